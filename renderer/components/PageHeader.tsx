import type { ReactNode } from 'react';
import { Box, Stack, Typography } from '@mui/material';
import type { Route } from '../state/router';

/** Every page starts with one h1 (tests find it by data-testid="page-title-<route>"). */
export function PageHeader({ route, title, subtitle, actions }: { route: Route; title: string; subtitle?: string; actions?: ReactNode }) {
  return (
    <Stack direction={{ xs: 'column', sm: 'row' }} spacing={2} sx={{ mb: 3, alignItems: { sm: 'flex-end' } }}>
      <Box sx={{ flex: 1, minWidth: 0 }}>
        <Typography variant="h1" data-testid={`page-title-${route}`} tabIndex={-1} id="page-title">
          {title}
        </Typography>
        {subtitle && (
          <Typography variant="body2" color="text.secondary" sx={{ mt: 0.75, maxWidth: 760 }}>
            {subtitle}
          </Typography>
        )}
      </Box>
      {actions && (
        <Stack direction="row" spacing={1} sx={{ flexShrink: 0 }}>
          {actions}
        </Stack>
      )}
    </Stack>
  );
}
