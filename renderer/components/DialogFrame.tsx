import type { ReactNode } from 'react';
import { Dialog, DialogActions, DialogContent, DialogTitle, Stack } from '@mui/material';

/** The frame the pages' dialogs share (title, stacked fields, actions), so none can be closed by Escape or the backdrop while its call runs. */
export function DialogFrame(props: {
  open: boolean;
  title: string;
  onClose: () => void;
  busy: boolean;
  children: ReactNode;
  actions: ReactNode;
  testId: string;
  maxWidth: 'sm' | 'md' | 'lg';
}) {
  return (
    <Dialog open={props.open} onClose={props.busy ? undefined : props.onClose} fullWidth maxWidth={props.maxWidth} data-testid={props.testId}>
      <DialogTitle>{props.title}</DialogTitle>
      <DialogContent>
        <Stack spacing={2} sx={{ pt: 1 }}>
          {props.children}
        </Stack>
      </DialogContent>
      <DialogActions>{props.actions}</DialogActions>
    </Dialog>
  );
}
