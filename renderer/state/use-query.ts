// Loads one Result-returning API call for a page: loading / value / error, a reload, and the
// error also goes to the snackbar so the person sees why a page is empty.
import { useCallback, useEffect, useEffectEvent, useState } from 'react';
import type { AppErrorValue, Result } from '../../common/contract/errors';
import { useReportError } from './errors';

export type Query<T> =
  | { status: 'loading'; value?: undefined; error?: undefined; reload: () => void }
  | { status: 'ok'; value: T; error?: undefined; reload: () => void }
  | { status: 'error'; value?: undefined; error: AppErrorValue; reload: () => void };

type State<T> = { status: 'loading' } | { status: 'ok'; value: T } | { status: 'error'; error: AppErrorValue };

export function useQuery<T>(load: () => Promise<Result<T>>, options: { report?: boolean } = {}): Query<T> {
  const report = useReportError();
  const [state, setState] = useState<State<T>>({ status: 'loading' });
  const [generation, setGeneration] = useState(0);
  // The latest loader without making it a dependency: callers pass inline arrows.
  const runLoad = useEffectEvent(load);
  const shouldReport = options.report ?? true;

  useEffect(() => {
    let live = true;
    runLoad().then(
      (r) => {
        if (!live) return;
        if (r.ok) setState({ status: 'ok', value: r.value });
        else {
          setState({ status: 'error', error: r.error });
          if (shouldReport) report(r.error);
        }
      },
      (e: unknown) => {
        if (!live) return;
        const error: AppErrorValue = { code: 'internal', message: e instanceof Error ? e.message : String(e) };
        setState({ status: 'error', error });
        if (shouldReport) report(error);
      },
    );
    return () => {
      live = false;
    };
  }, [generation, report, shouldReport]);

  const reload = useCallback(() => {
    setState({ status: 'loading' });
    setGeneration((g) => g + 1);
  }, []);
  return { ...state, reload } as Query<T>;
}
