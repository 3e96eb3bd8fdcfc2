// A run's status as a coloured chip; the error (if any) on hover.
import { Chip, Tooltip, type ChipProps } from '@mui/material';
import type { Run, RunStatus } from '../../../common/contract/runs';
import type { Translate } from '../../i18n';
import type { MessageKey } from '../../i18n/en';

const statusColor: Record<RunStatus, ChipProps['color']> = {
  queued: 'default',
  running: 'info',
  completed: 'success',
  failed: 'error',
  cancelled: 'default',
};

export function RunStatusChip({ run, t }: { run: Pick<Run, 'status' | 'error'>; t: Translate }) {
  const chip = (
    <Chip
      size="small"
      color={statusColor[run.status]}
      variant={run.status === 'running' ? 'filled' : 'outlined'}
      label={t(`runs.status.${run.status}` as MessageKey)}
      data-testid="run-status"
      data-status={run.status}
    />
  );
  return run.error ? <Tooltip title={run.error}>{chip}</Tooltip> : chip;
}
