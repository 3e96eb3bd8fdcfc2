// Compare runs: pick two or more runs and see one metric of each on one chart (runs:compare),
// e.g. training or validation loss of several learning rates side by side.
import { useEffect, useMemo, useState } from 'react';
import { Box, Checkbox, FormControl, InputLabel, ListItemText, MenuItem, OutlinedInput, Paper, Select, Stack, Typography } from '@mui/material';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { Run } from '../../../common/contract/runs';
import type { Language } from '../../i18n';
import { api } from '../../state/api';
import { useReportError } from '../../state/errors';

const text = {
  en: {
    title: 'Compare runs',
    runs: 'Runs',
    metric: 'Curve',
    trainLoss: 'Training loss',
    evalLoss: 'Validation loss',
    lr: 'Learning rate',
    pick: 'Pick two or more runs to see their curves on one chart.',
    step: 'Update',
  },
  tr: {
    title: 'Eğitimleri karşılaştır',
    runs: 'Eğitimler',
    metric: 'Eğri',
    trainLoss: 'Eğitim kaybı',
    evalLoss: 'Doğrulama kaybı',
    lr: 'Öğrenme oranı',
    pick: 'Eğrilerini tek grafikte görmek için iki ya da daha çok eğitim seçin.',
    step: 'Güncelleme',
  },
};

type MetricChoice = 'train:loss' | 'validation:loss' | 'train:lr';
const COLORS = ['#1565c0', '#c62828', '#2e7d32', '#ef6c00', '#6a1b9a', '#00838f', '#ad1457', '#4e342e'];

export function CompareRuns({ runs, language }: { runs: Run[]; language: Language }) {
  const s = text[language];
  const report = useReportError();
  const [ids, setIds] = useState<number[]>([]);
  const [metric, setMetric] = useState<MetricChoice>('train:loss');
  const [series, setSeries] = useState<{ runId: number; name: string; points: { step: number; value: number }[] }[]>([]);
  const withMetrics = runs.filter((r) => r.startedAt !== null);

  useEffect(() => {
    if (ids.length < 2) return;
    let live = true;
    const [split, name] = metric.split(':') as [string, string];
    void api.runs.compare({ runIds: ids, names: [name] }).then((r) => {
      if (!live) return;
      if (!r.ok) return report(r.error);
      setSeries(r.value.map((x) => ({ runId: x.runId, name: x.name, points: x.points.filter((p) => p.split === split).map((p) => ({ step: p.step, value: p.value })) })));
    });
    return () => {
      live = false;
    };
  }, [ids, metric, report]);

  // One row per step with a column per run (recharts' shape).
  const data = useMemo(() => {
    const rows = new Map<number, Record<string, number>>();
    for (const x of series) for (const p of x.points) rows.set(p.step, { ...(rows.get(p.step) ?? { step: p.step }), [`r${x.runId}`]: p.value });
    return [...rows.values()].sort((a, b) => a.step - b.step);
  }, [series]);

  if (withMetrics.length < 2) return null;
  return (
    <Paper variant="outlined" sx={{ p: 2, mt: 3 }} data-testid="runs-compare">
      <Typography variant="h2" component="h2" sx={{ mb: 1.5 }}>
        {s.title}
      </Typography>
      <Stack direction={{ xs: 'column', md: 'row' }} spacing={2} sx={{ mb: 2 }}>
        <FormControl size="small" sx={{ minWidth: 280 }} data-testid="runs-compare-pick">
          <InputLabel id="compare-runs-label">{s.runs}</InputLabel>
          <Select
            labelId="compare-runs-label"
            multiple
            value={ids}
            input={<OutlinedInput label={s.runs} />}
            renderValue={(sel) => withMetrics.filter((r) => sel.includes(r.id)).map((r) => r.name).join(', ')}
            onChange={(e) => setIds(typeof e.target.value === 'string' ? [] : e.target.value.slice(0, COLORS.length))}
          >
            {withMetrics.map((r) => (
              <MenuItem key={r.id} value={r.id}>
                <Checkbox checked={ids.includes(r.id)} size="small" />
                <ListItemText primary={r.name} secondary={`#${r.id}`} />
              </MenuItem>
            ))}
          </Select>
        </FormControl>
        <FormControl size="small" sx={{ minWidth: 200 }}>
          <InputLabel id="compare-metric-label">{s.metric}</InputLabel>
          <Select labelId="compare-metric-label" label={s.metric} value={metric} onChange={(e) => setMetric(e.target.value as MetricChoice)} data-testid="runs-compare-metric">
            <MenuItem value="train:loss">{s.trainLoss}</MenuItem>
            <MenuItem value="validation:loss">{s.evalLoss}</MenuItem>
            <MenuItem value="train:lr">{s.lr}</MenuItem>
          </Select>
        </FormControl>
      </Stack>
      {ids.length < 2 ? (
        <Typography variant="body2" color="text.secondary">
          {s.pick}
        </Typography>
      ) : (
        <Box sx={{ height: 300 }} data-testid="runs-compare-chart">
          <ResponsiveContainer width="100%" height="100%">
            <LineChart data={data} margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="step" type="number" domain={['dataMin', 'dataMax']} allowDecimals={false} />
              <YAxis domain={['auto', 'auto']} tickFormatter={(v: number) => (metric === 'train:lr' ? v.toExponential(1) : String(Math.round(v * 1000) / 1000))} width={64} />
              <Tooltip labelFormatter={(step) => `${s.step} ${String(step)}`} />
              <Legend />
              {series.map((x, i) => (
                <Line key={x.runId} dataKey={`r${x.runId}`} name={x.name} stroke={COLORS[i % COLORS.length]} dot={false} isAnimationActive={false} connectNulls />
              ))}
            </LineChart>
          </ResponsiveContainer>
        </Box>
      )}
    </Paper>
  );
}
