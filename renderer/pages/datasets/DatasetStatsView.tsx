// Token statistics of a dataset: percentiles, what each candidate max length truncates, the
// suggestion, and a histogram of input and target lengths (recharts).
import { Box, Stack, Table, TableBody, TableCell, TableHead, TableRow, Typography } from '@mui/material';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { DatasetSummaryValue } from '../../../common/contract/datasets';
import { useI18n } from '../../i18n';
import { formatNumber } from '../../components/format';
import { datasetStrings, fill } from './strings';

type Stats = NonNullable<DatasetSummaryValue['stats']>;
type Lengths = Stats['input'];

/** Merges the two histograms on a common bin width so they share one x axis. */
function histogramRows(input: Lengths, target: Lengths): Array<{ bin: string; input: number; target: number }> {
  const width = Math.max(input.histogram.binWidth, target.histogram.binWidth);
  const bins = new Map<number, { input: number; target: number }>();
  const add = (h: Lengths['histogram'], key: 'input' | 'target') => {
    h.counts.forEach((c, i) => {
      const b = Math.floor((i * h.binWidth) / width);
      const row = bins.get(b) ?? { input: 0, target: 0 };
      row[key] += c;
      bins.set(b, row);
    });
  };
  add(input.histogram, 'input');
  add(target.histogram, 'target');
  const max = Math.max(0, ...bins.keys());
  return Array.from({ length: max + 1 }, (_, b) => ({ bin: `${b * width}`, ...(bins.get(b) ?? { input: 0, target: 0 }) }));
}

export function DatasetStatsView({ stats }: { stats: Stats }) {
  const { language } = useI18n();
  const s = datasetStrings(language);
  const candidates = Object.keys(stats.input.truncatedAt);
  const data = histogramRows(stats.input, stats.target);
  return (
    <Stack spacing={2} data-testid="dataset-stats">
      {(['input', 'target'] as const).map((k) => (
        <Box key={k}>
          <Typography variant="subtitle2">{k === 'input' ? s.input : s.target}</Typography>
          <Typography variant="body2" color="text.secondary" data-testid={`dataset-stats-${k}`}>
            {fill(s.percentiles, { p50: stats[k].p50, p95: stats[k].p95, p99: stats[k].p99, max: stats[k].max, mean: stats[k].mean })} · {fill(s.suggested, { n: stats[k].suggestedMaxLength })}
          </Typography>
        </Box>
      ))}
      <Box>
        <Typography variant="subtitle2">{s.truncated}</Typography>
        <Table size="small">
          <TableHead>
            <TableRow>
              <TableCell />
              {candidates.map((c) => (
                <TableCell key={c} align="right">
                  {c}
                </TableCell>
              ))}
            </TableRow>
          </TableHead>
          <TableBody>
            {(['input', 'target'] as const).map((k) => (
              <TableRow key={k}>
                <TableCell>{k === 'input' ? s.input : s.target}</TableCell>
                {candidates.map((c) => (
                  <TableCell key={c} align="right" sx={{ fontWeight: Number(c) === stats[k].suggestedMaxLength ? 700 : 400 }}>
                    {formatNumber(stats[k].truncatedAt[c] ?? 0, language)}
                  </TableCell>
                ))}
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </Box>
      <Typography variant="body2" color={stats.overLongCount ? 'warning.main' : 'text.secondary'}>
        {fill(s.overLong, { n: stats.overLongCount, input: stats.maxInputLength, target: stats.maxTargetLength })}
      </Typography>
      <Box>
        <Typography variant="subtitle2">{s.histogram}</Typography>
        <Box sx={{ width: '100%', height: 240 }} data-testid="dataset-histogram">
          <ResponsiveContainer>
            <BarChart data={data} margin={{ top: 8, right: 8, bottom: 8, left: 0 }}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="bin" label={{ value: s.tokens, position: 'insideBottomRight', offset: -4 }} />
              <YAxis allowDecimals={false} />
              <Tooltip />
              <Legend />
              <Bar dataKey="input" name={s.input} fill="#1976d2" />
              <Bar dataKey="target" name={s.target} fill="#9c27b0" />
            </BarChart>
          </ResponsiveContainer>
        </Box>
      </Box>
    </Stack>
  );
}
