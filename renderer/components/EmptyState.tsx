import type { ReactNode } from 'react';
import { Box, Paper, Stack, Typography } from '@mui/material';

/** What a page shows before there is anything to list: what belongs here and how to get it. */
export function EmptyState({ icon, title, body, actions, testId }: { icon: ReactNode; title: string; body: string; actions?: ReactNode; testId?: string }) {
  return (
    <Paper
      variant="outlined"
      data-testid={testId}
      sx={{ px: { xs: 3, sm: 6 }, py: { xs: 5, sm: 7 }, textAlign: 'center', borderStyle: 'dashed', bgcolor: 'background.paper' }}
    >
      <Box
        aria-hidden
        sx={{
          mx: 'auto',
          mb: 2,
          width: 64,
          height: 64,
          borderRadius: '50%',
          display: 'grid',
          placeItems: 'center',
          color: 'primary.main',
          bgcolor: (t) => (t.palette.mode === 'dark' ? 'rgba(143,180,255,0.12)' : 'rgba(31,79,163,0.08)'),
          '& svg': { fontSize: 32 },
        }}
      >
        {icon}
      </Box>
      <Typography variant="h2" component="h2" gutterBottom>
        {title}
      </Typography>
      <Typography variant="body2" color="text.secondary" sx={{ maxWidth: 560, mx: 'auto' }}>
        {body}
      </Typography>
      {actions && (
        <Stack direction="row" spacing={1.5} sx={{ mt: 3, justifyContent: 'center', flexWrap: 'wrap', rowGap: 1 }}>
          {actions}
        </Stack>
      )}
    </Paper>
  );
}
