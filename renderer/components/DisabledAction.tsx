import type { ReactNode } from 'react';
import { Button, Tooltip, type ButtonProps } from '@mui/material';

/**
 * A button whose feature is not there yet (or whose preconditions are not met): shown so
 * the person sees what the page will do, disabled, with the reason on hover and focus.
 * The span keeps the tooltip working on a disabled button and makes it focusable.
 */
export function DisabledAction({ reason, children, testId, ...props }: ButtonProps & { reason: string; children: ReactNode; testId?: string }) {
  return (
    <Tooltip title={reason}>
      <span tabIndex={0} aria-label={`${typeof children === 'string' ? children : ''} — ${reason}`} data-testid={testId} style={{ display: 'inline-flex' }}>
        <Button {...props} disabled>
          {children}
        </Button>
      </span>
    </Tooltip>
  );
}
