import { Alert } from '@mui/material';
import type { AppErrorValue } from '../../common/contract/errors';

/** A dialog's last failed call, shown whole (main's messages carry line breaks and long paths). */
export function DialogError({ error, testId }: { error: AppErrorValue | null; testId: string }) {
  if (!error) return null;
  return (
    <Alert severity="error" data-testid={testId} sx={{ whiteSpace: 'pre-wrap', wordBreak: 'break-word' }}>
      {error.message}
    </Alert>
  );
}
