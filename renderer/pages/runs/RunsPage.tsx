// Runs: every fine-tuning run with its status, curves and outputs (issue 5 fills the list).
import { Button } from '@mui/material';
import PlayCircleOutlineIcon from '@mui/icons-material/PlayCircleOutline';
import TimelineOutlinedIcon from '@mui/icons-material/TimelineOutlined';
import { useT } from '../../i18n';
import { navigate } from '../../state/router';
import { PageHeader } from '../../components/PageHeader';
import { EmptyState } from '../../components/EmptyState';

export function RunsPage() {
  const t = useT();
  const start = (
    <Button variant="contained" startIcon={<PlayCircleOutlineIcon />} onClick={() => navigate('new-run')} data-testid="runs-start-new">
      {t('runs.startNew')}
    </Button>
  );
  return (
    <>
      <PageHeader route="runs" title={t('runs.title')} subtitle={t('runs.subtitle')} />
      <EmptyState testId="runs-empty" icon={<TimelineOutlinedIcon />} title={t('runs.emptyTitle')} body={t('runs.emptyBody')} actions={start} />
    </>
  );
}
