import type { ReactNode } from 'react';
import { Box, LinearProgress, Typography } from '@mui/material';

/** A running call's bar: indeterminate until there is something to say, then a caption over a bar that fills when the share done is known. */
export function TaskProgress({ caption, percent, testId }: { caption?: ReactNode; percent?: number | null; testId?: string }) {
  if (caption === undefined) return <LinearProgress data-testid={testId} />;
  return (
    <Box data-testid={testId}>
      <Typography variant="body2" sx={{ mb: 0.5 }}>
        {caption}
      </Typography>
      {percent === null || percent === undefined ? <LinearProgress /> : <LinearProgress variant="determinate" value={percent} />}
    </Box>
  );
}
