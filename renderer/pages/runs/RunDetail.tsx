// One run: its state, configuration and the curves of what the trainer measured (runs:metrics),
// kept live by the runs:metrics and runs:status events while it trains.
import { useEffect, useMemo, useState } from 'react';
import {
  Alert,
  AlertTitle,
  Box,
  Button,
  Dialog,
  DialogActions,
  DialogContent,
  DialogContentText,
  DialogTitle,
  Paper,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableRow,
  Typography,
  useTheme,
} from '@mui/material';
import ArrowBackIcon from '@mui/icons-material/ArrowBack';
import DeleteOutlineIcon from '@mui/icons-material/DeleteOutline';
import StopCircleOutlinedIcon from '@mui/icons-material/StopCircleOutlined';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { MetricPoint, Run } from '../../../common/contract/runs';
import { useI18n, type Language, type Translate } from '../../i18n';
import { api } from '../../state/api';
import { navigate } from '../../state/router';
import { useQuery } from '../../state/use-query';
import { useNotify, useReportError } from '../../state/errors';
import { QueryView } from '../../components/QueryView';
import { formatDateTime, formatDuration, formatNumber } from '../../components/format';
import { monoFonts } from '../../theme';
import { RunStatusChip } from './RunStatusChip';

export function RunDetail({ id }: { id: number }) {
  const { t } = useI18n();
  const run = useQuery(() => api.runs.get({ id }));
  const { reload } = run;
  useEffect(() => api.on('runs:status', (batch) => batch.some((s) => s.runId === id) && reload()), [id, reload]);
  return (
    <>
      <Button startIcon={<ArrowBackIcon />} onClick={() => navigate('runs')} sx={{ mb: 2 }} data-testid="run-back">
        {t('runs.back')}
      </Button>
      <QueryView query={run} failedTitle={t('runs.notFound')} testId="run">
        {(r) => <RunView run={r} />}
      </QueryView>
    </>
  );
}

function RunView({ run }: { run: Run }) {
  const { t, language } = useI18n();
  const metrics = useMetrics(run.id);
  const summary = useMemo(() => summarize(metrics), [metrics]);
  const now = useNow(run.status === 'running');
  const end = run.finishedAt ?? (run.status === 'running' ? now : null);
  // What the trainer resolved gradientCheckpointing to (a metric point on its first update).
  const recompute = metrics.filter((p) => p.split === 'train' && p.name === 'recompute').at(-1);
  const checkpointingSetting = typeof run.config.gradientCheckpointing === 'string' ? run.config.gradientCheckpointing : 'auto';
  return (
    <Stack spacing={3} data-testid="run-detail">
      <Stack direction="row" spacing={2} sx={{ alignItems: 'center', flexWrap: 'wrap', rowGap: 1 }}>
        <Typography variant="h1" data-testid="page-title-run">
          {run.name}
        </Typography>
        <RunStatusChip run={run} t={t} />
        <Box sx={{ flex: 1 }} />
        <RunActions run={run} t={t} />
      </Stack>
      {run.error && (
        <Alert severity={run.status === 'failed' ? 'error' : 'warning'} data-testid="run-error">
          <AlertTitle>{t('runs.error')}</AlertTitle>
          <Box sx={{ fontFamily: monoFonts, fontSize: 13, whiteSpace: 'pre-wrap', wordBreak: 'break-word' }}>{run.error}</Box>
        </Alert>
      )}
      <Box sx={{ display: 'grid', gap: 2, gridTemplateColumns: { xs: 'repeat(2, 1fr)', md: 'repeat(4, 1fr)' } }}>
        <Stat label={t('runs.steps')} value={summary.steps === null ? '—' : formatNumber(summary.steps, language)} testId="run-steps" />
        <Stat label={t('runs.lastLoss')} value={fmt(summary.lastLoss, language)} testId="run-last-loss" />
        <Stat label={t('runs.bestEval')} value={fmt(summary.bestEval, language)} testId="run-best-eval" />
        <Stat
          label={t('runs.throughput')}
          value={summary.tokensPerSec === null ? '—' : formatNumber(Math.round(summary.tokensPerSec), language)}
          testId="run-throughput"
        />
      </Box>
      <Paper variant="outlined" sx={{ p: 2.5 }}>
        <Stack direction="row" spacing={4} useFlexGap sx={{ flexWrap: 'wrap', mb: 1 }}>
          <Meta label={t('runs.colCreated')} value={formatDateTime(run.createdAt, language)} />
          <Meta label={t('runs.started')} value={run.startedAt === null ? '—' : formatDateTime(run.startedAt, language)} />
          <Meta label={t('runs.finished')} value={run.finishedAt === null ? '—' : formatDateTime(run.finishedAt, language)} />
          <Meta label={t('runs.colDuration')} value={run.startedAt !== null && end !== null ? formatDuration(end - run.startedAt) : '—'} />
          <Meta label={t('runs.colDevice')} value={run.device ? run.device.toUpperCase() : '—'} />
          <Meta
            label={t('runs.checkpointing')}
            value={recompute ? t(recompute.value ? 'runs.checkpointingOn' : 'runs.checkpointingOff', { setting: checkpointingSetting }) : '—'}
          />
        </Stack>
      </Paper>
      {metrics.length === 0 ? (
        <Alert severity="info" data-testid="run-no-metrics">
          {t('runs.noMetrics')}
        </Alert>
      ) : (
        <Box sx={{ display: 'grid', gap: 2, gridTemplateColumns: { xs: '1fr', lg: 'repeat(2, 1fr)' } }}>
          <MetricChart title={t('runs.chartLoss')} metrics={metrics} name="loss" t={t} testId="run-chart-loss" />
          <MetricChart title={t('runs.chartLr')} metrics={metrics} name="lr" t={t} exponent testId="run-chart-lr" />
          <MetricChart title={t('runs.chartThroughput')} metrics={metrics} name="tokensPerSec" t={t} testId="run-chart-throughput" />
          <MetricChart title={t('runs.chartGradNorm')} metrics={metrics} name="gradNorm" t={t} testId="run-chart-gradnorm" />
        </Box>
      )}
      <ConfigTable config={run.config} title={t('runs.config')} />
    </Stack>
  );
}

/** Stop a queued or running run; delete a finished one after asking (runs:cancel, runs:delete). */
function RunActions({ run, t }: { run: Run; t: Translate }) {
  const report = useReportError();
  const notify = useNotify();
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const active = run.status === 'queued' || run.status === 'running';
  const cancel = async () => {
    setBusy(true);
    const r = await api.runs.cancel({ id: run.id });
    setBusy(false);
    if (!r.ok) report(r.error);
    else if (r.value.cancelled) notify(t('runs.cancelled', { name: run.name }));
  };
  const remove = async () => {
    setBusy(true);
    const r = await api.runs.delete({ id: run.id });
    setBusy(false);
    setAsking(false);
    if (!r.ok) return report(r.error);
    notify(t('runs.deleted', { name: run.name }));
    navigate('runs');
  };
  if (active) {
    return (
      <Button variant="outlined" color="warning" startIcon={<StopCircleOutlinedIcon />} onClick={cancel} disabled={busy} data-testid="run-cancel">
        {t('runs.cancel')}
      </Button>
    );
  }
  return (
    <>
      <Button variant="outlined" color="error" startIcon={<DeleteOutlineIcon />} onClick={() => setAsking(true)} disabled={busy} data-testid="run-delete">
        {t('runs.delete')}
      </Button>
      <Dialog open={asking} onClose={() => !busy && setAsking(false)} maxWidth="xs" fullWidth data-testid="run-delete-dialog">
        <DialogTitle>{t('runs.deleteTitle', { name: run.name })}</DialogTitle>
        <DialogContent>
          <DialogContentText>{t('runs.deleteBody')}</DialogContentText>
        </DialogContent>
        <DialogActions sx={{ px: 3, pb: 2 }}>
          <Button onClick={() => setAsking(false)} disabled={busy} autoFocus>
            {t('runs.keep')}
          </Button>
          <Button color="error" variant="contained" onClick={remove} disabled={busy} data-testid="run-delete-confirm">
            {t('runs.deleteConfirm')}
          </Button>
        </DialogActions>
      </Dialog>
    </>
  );
}

/** The time, ticking each second while `active` (a running run's duration grows on screen). */
function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

/** Stored points, then the ones pushed while the page is open (deduplicated by split/name/step). */
function useMetrics(runId: number): MetricPoint[] {
  const stored = useQuery(() => api.runs.metrics({ runId }), { report: false });
  const { reload } = stored;
  const [live, setLive] = useState<MetricPoint[]>([]);
  // Points pushed before this page subscribed (a short run can finish while the page loads)
  // are in the store: read it again whenever this run's status changes.
  useEffect(() => api.on('runs:status', (batch) => batch.some((s) => s.runId === runId) && reload()), [runId, reload]);
  useEffect(
    () =>
      api.on('runs:metrics', (batch) => {
        const mine = batch.filter((p) => p.runId === runId).map(({ step, split, name, value }) => ({ step, split, name, value }));
        if (mine.length) setLive((l) => [...l, ...mine]);
      }),
    [runId],
  );
  return useMemo(() => {
    const seen = new Map<string, MetricPoint>();
    for (const p of [...(stored.status === 'ok' ? stored.value : []), ...live]) seen.set(`${p.split}/${p.name}/${p.step}`, p);
    return [...seen.values()].sort((a, b) => a.step - b.step);
  }, [stored, live]);
}

function summarize(points: MetricPoint[]) {
  const train = (name: string) => points.filter((p) => p.split === 'train' && p.name === name);
  const loss = train('loss');
  const evals = points.filter((p) => p.split === 'validation' && p.name === 'loss');
  const tps = train('tokensPerSec')
    .map((p) => p.value)
    .sort((a, b) => a - b);
  return {
    steps: loss.length ? loss[loss.length - 1].step : null,
    lastLoss: loss.length ? loss[loss.length - 1].value : null,
    bestEval: evals.length ? Math.min(...evals.map((p) => p.value)) : null,
    tokensPerSec: tps.length ? tps[Math.floor(tps.length / 2)] : null,
  };
}

const fmt = (v: number | null, language: Language) =>
  v === null ? '—' : new Intl.NumberFormat(language === 'tr' ? 'tr-TR' : 'en-US', { maximumFractionDigits: 4 }).format(v);

function MetricChart({ title, metrics, name, t, exponent, testId }: { title: string; metrics: MetricPoint[]; name: string; t: Translate; exponent?: boolean; testId: string }) {
  const theme = useTheme();
  const { rows, splits } = useMemo(() => {
    const bySplit = new Map<number, Record<string, number>>();
    const found = new Set<string>();
    for (const p of metrics) {
      if (p.name !== name) continue;
      found.add(p.split);
      const row = bySplit.get(p.step) ?? { step: p.step };
      row[p.split] = p.value;
      bySplit.set(p.step, row);
    }
    return { rows: [...bySplit.values()].sort((a, b) => a.step - b.step), splits: [...found] };
  }, [metrics, name]);
  if (rows.length === 0) return null;
  const color = (split: string) => (split === 'train' ? theme.palette.primary.main : split === 'validation' ? theme.palette.secondary.main : theme.palette.text.secondary);
  const label = (split: string) => (split === 'train' ? t('runs.train') : split === 'validation' ? t('runs.validation') : split);
  const tick = (v: number) => (exponent ? v.toExponential(1) : Math.abs(v) >= 1000 ? `${Math.round(v / 100) / 10}k` : String(Math.round(v * 1000) / 1000));
  return (
    <Paper variant="outlined" sx={{ p: 2 }} data-testid={testId}>
      <Typography variant="h3" component="h2" sx={{ mb: 1 }}>
        {title}
      </Typography>
      <Box sx={{ height: 220 }}>
        <ResponsiveContainer width="100%" height="100%">
          <LineChart data={rows} margin={{ top: 5, right: 12, bottom: 5, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" stroke={theme.palette.divider} />
            <XAxis dataKey="step" type="number" domain={['dataMin', 'dataMax']} tick={{ fill: theme.palette.text.secondary, fontSize: 12 }} stroke={theme.palette.divider} />
            <YAxis width={56} tickFormatter={tick} tick={{ fill: theme.palette.text.secondary, fontSize: 12 }} stroke={theme.palette.divider} domain={['auto', 'auto']} />
            <Tooltip
              contentStyle={{ background: theme.palette.background.paper, border: `1px solid ${theme.palette.divider}`, borderRadius: 8 }}
              labelFormatter={(s) => `${t('runs.step')} ${s}`}
              formatter={(v) => (typeof v === 'number' ? (exponent ? v.toExponential(3) : String(Math.round(v * 10000) / 10000)) : String(v))}
            />
            {splits.length > 1 && <Legend formatter={(s: string) => label(s)} />}
            {splits.map((s) => (
              <Line
                key={s}
                dataKey={s}
                name={s}
                stroke={color(s)}
                strokeWidth={2}
                dot={s === 'validation' ? { r: 3 } : false}
                connectNulls
                isAnimationActive={false}
                type="linear"
              />
            ))}
          </LineChart>
        </ResponsiveContainer>
      </Box>
    </Paper>
  );
}

function ConfigTable({ config, title }: { config: Record<string, unknown>; title: string }) {
  const entries = Object.entries(config).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return null;
  const show = (v: unknown) => (Array.isArray(v) ? v.join(', ') : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
  return (
    <Paper variant="outlined" sx={{ p: 2.5 }} data-testid="run-config">
      <Typography variant="h3" component="h2" sx={{ mb: 1 }}>
        {title}
      </Typography>
      <Box sx={{ columnCount: { xs: 1, md: 2, lg: 3 }, columnGap: 4 }}>
        <Table size="small">
          <TableBody>
            {entries.map(([k, v]) => (
              <TableRow key={k} sx={{ breakInside: 'avoid' }}>
                <TableCell sx={{ color: 'text.secondary', pl: 0, border: 0, py: 0.5 }}>{k}</TableCell>
                <TableCell sx={{ fontFamily: monoFonts, fontSize: 13, border: 0, py: 0.5 }} data-config={k}>
                  {show(v)}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </Box>
    </Paper>
  );
}

function Stat({ label, value, testId }: { label: string; value: string; testId: string }) {
  return (
    <Paper variant="outlined" sx={{ p: 2 }}>
      <Typography variant="caption" color="text.secondary" component="div">
        {label}
      </Typography>
      <Typography variant="h2" component="div" data-testid={testId} sx={{ mt: 0.5 }}>
        {value}
      </Typography>
    </Paper>
  );
}

function Meta({ label, value }: { label: string; value: string }) {
  return (
    <Box>
      <Typography variant="caption" color="text.secondary" component="div">
        {label}
      </Typography>
      <Typography variant="body2" sx={{ fontWeight: 550 }}>
        {value}
      </Typography>
    </Box>
  );
}
