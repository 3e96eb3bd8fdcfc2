import { useState } from 'react';
import type { AppErrorValue, Result } from '../../common/contract/errors';

/**
 * A dialog's busy flag and last error, kept the one way every dialog keeps them: a call clears
 * the old error and sets busy; when it ends busy drops and a failure becomes the error shown.
 * The caller gets the Result to act on success.
 */
export function useDialogCall() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<AppErrorValue | null>(null);
  const call = async <T>(request: () => Promise<Result<T>>): Promise<Result<T>> => {
    setBusy(true);
    setError(null);
    const r = await request();
    setBusy(false);
    if (!r.ok) setError(r.error);
    return r;
  };
  return { busy, error, setError, call };
}
