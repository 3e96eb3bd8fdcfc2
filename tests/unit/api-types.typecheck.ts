// Compile-time checks of the generated API's types (tsc runs over tests/ in `npm run lint`).
import type { HukukApi } from '../../common/contract/api';

export async function apiTypeChecks(api: HukukApi): Promise<void> {
  await api.system.info(); // an empty request may be omitted
  await api.system.info({});
  // @ts-expect-error a request with required fields may not be omitted
  await api.runs.get();
}
