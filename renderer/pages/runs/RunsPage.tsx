// Runs: every fine-tuning run (runs:list), kept current by the runs:status events main pushes.
import { useEffect } from 'react';
import { Box, Button, Link, Typography } from '@mui/material';
import PlayCircleOutlineIcon from '@mui/icons-material/PlayCircleOutline';
import TimelineOutlinedIcon from '@mui/icons-material/TimelineOutlined';
import type { Run } from '../../../common/contract/runs';
import { useI18n, type Language, type Translate } from '../../i18n';
import { api } from '../../state/api';
import { hrefOf, navigate, useRouteParam } from '../../state/router';
import { useQuery } from '../../state/use-query';
import { PageHeader } from '../../components/PageHeader';
import { EmptyState } from '../../components/EmptyState';
import { QueryView } from '../../components/QueryView';
import { DataTable, type Column } from '../../components/DataTable';
import { formatDateTime, formatDuration } from '../../components/format';
import { RunDetail } from './RunDetail';
import { RunStatusChip } from './RunStatusChip';
import { CompareRuns } from './CompareRuns';

export function RunsPage() {
  const param = useRouteParam();
  const id = param === null ? NaN : Number(param);
  // '#/runs/12' shows run 12; '#/runs' the list.
  return Number.isInteger(id) && id > 0 ? <RunDetail key={id} id={id} /> : <RunsList />;
}

function RunsList() {
  const { t, language } = useI18n();
  const runs = useQuery(() => api.runs.list({}));
  const { reload } = runs;
  // A status change anywhere (this window, the CLI, another browser) refreshes the list.
  useEffect(() => api.on('runs:status', () => reload()), [reload]);

  const start = (
    <Button variant="contained" startIcon={<PlayCircleOutlineIcon />} onClick={() => navigate('new-run')} data-testid="runs-start-new">
      {t('runs.startNew')}
    </Button>
  );
  return (
    <>
      <PageHeader route="runs" title={t('runs.title')} subtitle={t('runs.subtitle')} actions={runs.status === 'ok' && runs.value.length > 0 ? start : undefined} />
      <QueryView query={runs} failedTitle={t('runs.loadFailed')} testId="runs">
        {(list) =>
          list.length === 0 ? (
            <EmptyState testId="runs-empty" icon={<TimelineOutlinedIcon />} title={t('runs.emptyTitle')} body={t('runs.emptyBody')} actions={start} />
          ) : (
            <>
              <DataTable rows={list} columns={runColumns(t, language)} rowKey={(r) => r.id} testId="runs-table" label={t('runs.title')} />
              <CompareRuns runs={list} language={language} />
            </>
          )
        }
      </QueryView>
    </>
  );
}

function runColumns(t: Translate, language: Language): Column<Run>[] {
  return [
    {
      key: 'name',
      header: t('runs.colName'),
      cell: (r) => (
        <Box sx={{ minWidth: 160 }}>
          <Link
            href={`${hrefOf('runs')}/${r.id}`}
            underline="hover"
            variant="body2"
            sx={{ fontWeight: 650 }}
            data-testid="run-name"
            aria-label={t('runs.open', { name: r.name })}
          >
            {r.name}
          </Link>
          {r.error && (
            <Typography variant="caption" color="error" sx={{ display: 'block', maxWidth: 420 }} noWrap title={r.error}>
              {r.error}
            </Typography>
          )}
        </Box>
      ),
    },
    { key: 'status', header: t('runs.colStatus'), cell: (r) => <RunStatusChip run={r} t={t} /> },
    { key: 'device', header: t('runs.colDevice'), hideBelow: 'md', cell: (r) => (r.device ? r.device.toUpperCase() : '—') },
    { key: 'created', header: t('runs.colCreated'), cell: (r) => formatDateTime(r.createdAt, language) },
    {
      key: 'duration',
      header: t('runs.colDuration'),
      align: 'right',
      cell: (r) => (r.startedAt === null ? '—' : formatDuration((r.finishedAt ?? Date.now()) - r.startedAt)),
    },
  ];
}
