// The three faces of a list page's data: loading skeleton, an error with a retry, or the content.
import type { ReactNode } from 'react';
import { Alert, AlertTitle, Button, Paper, Skeleton, Stack } from '@mui/material';
import { useT } from '../i18n';
import type { Query } from '../state/use-query';

export function QueryView<T>({ query, failedTitle, children, testId }: { query: Query<T>; failedTitle: string; children: (value: T) => ReactNode; testId: string }) {
  const t = useT();
  if (query.status === 'loading') {
    return (
      <Paper variant="outlined" sx={{ p: 2 }} data-testid={`${testId}-loading`} aria-busy>
        <Stack spacing={1.5}>
          {[0, 1, 2].map((i) => (
            <Skeleton key={i} variant="rounded" height={28} />
          ))}
        </Stack>
      </Paper>
    );
  }
  if (query.status === 'error') {
    return (
      <Alert
        severity="error"
        data-testid={`${testId}-error`}
        action={
          <Button color="inherit" size="small" onClick={query.reload}>
            {t('error.retry')}
          </Button>
        }
      >
        <AlertTitle>{failedTitle}</AlertTitle>
        {query.error.message}
      </Alert>
    );
  }
  return <>{children(query.value)}</>;
}
