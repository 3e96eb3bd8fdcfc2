import { AppError } from '../../../common/contract/errors';
import type { AppServices } from '../../services';
import { NO_PICKER_MESSAGE } from '../../services/path-picker';
import type { Handlers } from '../dispatch';

export function systemHandlers(services: AppServices): Pick<Handlers, 'system:info' | 'system:capabilities' | 'system:pick-path'> {
  return {
    'system:info': () => services.systemInfo(),
    'system:capabilities': () => ({ canPickPaths: services.pathPicker !== undefined }),
    'system:pick-path': async (req) => {
      if (!services.pathPicker) throw new AppError('unsupported', NO_PICKER_MESSAGE);
      return { path: await services.pathPicker(req) };
    },
  };
}
