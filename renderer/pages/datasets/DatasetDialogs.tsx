// The Datasets page's dialogs: import (check first: columns, splits, skipped rows, token
// statistics; then copy and record), details (preview, re-map, template, statistics), and
// delete (asks, and says whether files go: only the app's own copy ever does).
import { useState, type ReactNode } from 'react';
import {
  Alert,
  Box,
  Button,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  LinearProgress,
  MenuItem,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  TextField,
  Typography,
} from '@mui/material';
import type { AppErrorValue } from '../../../common/contract/errors';
import type { Dataset, DatasetSummaryValue } from '../../../common/contract/datasets';
import type { Model } from '../../../common/contract/models';
import { useI18n } from '../../i18n';
import { api } from '../../state/api';
import { PathField } from '../../components/PathField';
import { useQuery } from '../../state/use-query';
import { formatNumber } from '../../components/format';
import { monoFonts } from '../../theme';
import { DatasetStatsView } from './DatasetStatsView';
import { datasetStrings, fill } from './strings';

type TemplateName = 'default' | 'teknofest';

function ErrorView({ error }: { error: AppErrorValue | null }) {
  if (!error) return null;
  return (
    <Alert severity="error" data-testid="dataset-dialog-error" sx={{ whiteSpace: 'pre-wrap', wordBreak: 'break-word' }}>
      {error.message}
    </Alert>
  );
}

function Shell(props: { open: boolean; title: string; onClose: () => void; busy: boolean; children: ReactNode; actions: ReactNode; testId: string; wide?: boolean }) {
  return (
    <Dialog open={props.open} onClose={props.busy ? undefined : props.onClose} fullWidth maxWidth={props.wide ? 'lg' : 'md'} data-testid={props.testId}>
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

const origin = (o: { file: string; line?: number; row?: number }) => {
  const base = o.file.split(/[\\/]/).pop();
  return o.line !== undefined ? `${base}:${o.line}` : o.row !== undefined ? `${base} #${o.row}` : base;
};

/** Rows per split, skipped rows (with where and why), duplicates. */
export function SummaryView({ summary }: { summary: DatasetSummaryValue }) {
  const { language } = useI18n();
  const s = datasetStrings(language);
  const rows = Object.entries(summary.rows)
    .map(([k, v]) => `${k} ${formatNumber(v ?? 0, language)} (${summary.splitSource[k as 'train'] === 'seeded' ? s.seeded : s.fromFile})`)
    .join(' · ');
  return (
    <Stack spacing={1} data-testid="dataset-check-result">
      <Alert severity={summary.skippedCount ? 'warning' : 'success'}>
        <Typography variant="body2" sx={{ fontWeight: 650 }} data-testid="dataset-check-rows">
          {fill(s.rows, { rows })}
        </Typography>
        <Typography variant="body2" sx={{ fontFamily: monoFonts }}>
          {summary.mapping.question} → {summary.mapping.answer}
        </Typography>
        <Typography variant="body2">{summary.skippedCount ? fill(s.skipped, { n: summary.skippedCount }) : s.noneSkipped}</Typography>
        <Typography variant="body2">{fill(s.duplicates, { q: summary.duplicates.sameQuestion, a: summary.duplicates.sameAnswer })}</Typography>
      </Alert>
      {summary.notes.map((n) => (
        <Alert key={n} severity="info" data-testid="dataset-note">
          {n}
        </Alert>
      ))}
      {summary.skipped.length > 0 && (
        <Box sx={{ maxHeight: 180, overflow: 'auto' }}>
          <Table size="small" aria-label={s.showSkipped} data-testid="dataset-skipped">
            <TableHead>
              <TableRow>
                <TableCell>{s.where}</TableCell>
                <TableCell>{s.reason}</TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {summary.skipped.map((k, i) => (
                <TableRow key={i}>
                  <TableCell sx={{ fontFamily: monoFonts }}>{origin(k)}</TableCell>
                  <TableCell>{k.reason}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </Box>
      )}
    </Stack>
  );
}

/** Column mapping, template and model pickers shared by import and details. */
function PrepareFields(props: {
  columns: string[];
  question: string;
  answer: string;
  template: TemplateName;
  modelId: number | '';
  models: Model[];
  onChange: (p: Partial<{ question: string; answer: string; template: TemplateName; modelId: number | '' }>) => void;
}) {
  const { language } = useI18n();
  const s = datasetStrings(language);
  const columnSelect = (label: string, value: string, key: 'question' | 'answer', testId: string) => (
    <TextField select label={label} value={value} onChange={(e) => props.onChange({ [key]: e.target.value })} sx={{ minWidth: 180 }} slotProps={{ htmlInput: { 'data-testid': testId } }}>
      <MenuItem value="">{s.auto}</MenuItem>
      {props.columns.map((c) => (
        <MenuItem key={c} value={c}>
          {c}
        </MenuItem>
      ))}
    </TextField>
  );
  return (
    <Stack direction={{ xs: 'column', sm: 'row' }} spacing={2} useFlexGap sx={{ flexWrap: 'wrap' }}>
      {columnSelect(s.questionColumn, props.question, 'question', 'dataset-question-column')}
      {columnSelect(s.answerColumn, props.answer, 'answer', 'dataset-answer-column')}
      <TextField select label={s.template} value={props.template} onChange={(e) => props.onChange({ template: e.target.value as TemplateName })} sx={{ minWidth: 220 }} slotProps={{ htmlInput: { 'data-testid': 'dataset-template' } }}>
        <MenuItem value="default">{s.templateDefault}</MenuItem>
        <MenuItem value="teknofest">{s.templateTeknofest}</MenuItem>
      </TextField>
      <TextField select label={s.model} value={props.modelId} onChange={(e) => props.onChange({ modelId: e.target.value === '' ? '' : Number(e.target.value) })} sx={{ minWidth: 220 }} slotProps={{ htmlInput: { 'data-testid': 'dataset-model' } }}>
        <MenuItem value="">{s.noModel}</MenuItem>
        {props.models.map((m) => (
          <MenuItem key={m.id} value={m.id}>
            {m.name}
          </MenuItem>
        ))}
      </TextField>
    </Stack>
  );
}

export function ImportDatasetDialog({ open, onClose, onImported }: { open: boolean; onClose: () => void; onImported: (d: Dataset) => void }) {
  const { language } = useI18n();
  const s = datasetStrings(language);
  const models = useQuery(() => api.models.list({}), { report: false });
  const [path, setPath] = useState('');
  const [name, setName] = useState('');
  const [question, setQuestion] = useState('');
  const [answer, setAnswer] = useState('');
  const [template, setTemplate] = useState<TemplateName>('default');
  const [modelId, setModelId] = useState<number | ''>('');
  const [ratio, setRatio] = useState('0.1');
  const [seed, setSeed] = useState('42');
  const [summary, setSummary] = useState<DatasetSummaryValue | null>(null);
  const [error, setError] = useState<AppErrorValue | null>(null);
  const [busy, setBusy] = useState(false);

  const request = () => ({
    path: path.trim(),
    template,
    ...(question ? { questionColumn: question } : {}),
    ...(answer ? { answerColumn: answer } : {}),
    ...(modelId !== '' ? { modelId } : {}),
    ...(Number.isFinite(Number(ratio)) ? { splitRatio: Number(ratio) } : {}),
    ...(Number.isInteger(Number(seed)) ? { seed: Number(seed) } : {}),
  });
  const check = async () => {
    setBusy(true);
    setError(null);
    setSummary(null);
    const r = await api.datasets.inspect(request());
    setBusy(false);
    if (r.ok) setSummary(r.value);
    else setError(r.error);
  };
  const doImport = async () => {
    setBusy(true);
    setError(null);
    const r = await api.datasets.import({ ...request(), ...(name.trim() ? { name: name.trim() } : {}) });
    setBusy(false);
    if (r.ok) {
      onImported(r.value.dataset);
      setPath('');
      setName('');
      setSummary(null);
      onClose();
    } else setError(r.error);
  };
  return (
    <Shell
      open={open}
      onClose={onClose}
      busy={busy}
      title={s.importTitle}
      testId="dataset-import-dialog"
      actions={
        <>
          <Button onClick={onClose} disabled={busy}>
            {s.cancel}
          </Button>
          <Button onClick={check} disabled={busy || !path.trim()} data-testid="dataset-import-check">
            {s.check}
          </Button>
          <Button variant="contained" onClick={doImport} disabled={busy || !path.trim()} data-testid="dataset-import-submit">
            {s.import}
          </Button>
        </>
      }
    >
      <Typography variant="body2" color="text.secondary">
        {s.importHelp}
      </Typography>
      <PathField
        label={s.path}
        value={path}
        onChange={(p) => (setPath(p), setSummary(null))}
        kind="file"
        filters={[{ name: 'Data', extensions: ['json', 'jsonl', 'csv', 'parquet'] }]}
        testId="dataset-import-path"
        autoFocus
      />
      <TextField label={s.name} value={name} onChange={(e) => setName(e.target.value)} fullWidth slotProps={{ htmlInput: { 'data-testid': 'dataset-import-name' } }} />
      <PrepareFields
        columns={summary?.columns ?? []}
        question={question}
        answer={answer}
        template={template}
        modelId={modelId}
        models={models.status === 'ok' ? models.value : []}
        onChange={(p) => {
          if (p.question !== undefined) setQuestion(p.question);
          if (p.answer !== undefined) setAnswer(p.answer);
          if (p.template !== undefined) setTemplate(p.template);
          if (p.modelId !== undefined) setModelId(p.modelId);
        }}
      />
      <Stack direction="row" spacing={2}>
        <TextField label={s.splitRatio} value={ratio} onChange={(e) => setRatio(e.target.value)} sx={{ width: 260 }} slotProps={{ htmlInput: { inputMode: 'decimal' } }} />
        <TextField label={s.seed} value={seed} onChange={(e) => setSeed(e.target.value)} sx={{ width: 140 }} slotProps={{ htmlInput: { inputMode: 'numeric' } }} />
      </Stack>
      {busy && <LinearProgress data-testid="dataset-progress" />}
      {summary && <SummaryView summary={summary} />}
      {summary?.stats && <DatasetStatsView stats={summary.stats} />}
      <ErrorView error={error} />
    </Shell>
  );
}

export function DatasetDetailsDialog({ dataset, onClose, onChanged }: { dataset: Dataset | null; onClose: () => void; onChanged: () => void }) {
  return dataset ? <DetailsBody key={dataset.id} dataset={dataset} onClose={onClose} onChanged={onChanged} /> : null;
}

function DetailsBody({ dataset, onClose, onChanged }: { dataset: Dataset; onClose: () => void; onChanged: () => void }) {
  const { language } = useI18n();
  const s = datasetStrings(language);
  const preview = useQuery(() => api.datasets.preview({ id: dataset.id, limit: 10 }));
  const models = useQuery(() => api.models.list({}), { report: false });
  const mapping = dataset.columnMapping as { question?: string; answer?: string };
  const storedTemplate = (dataset.template as { name?: string }).name === 'teknofest' ? 'teknofest' : 'default';
  const [question, setQuestion] = useState(mapping.question ?? '');
  const [answer, setAnswer] = useState(mapping.answer ?? '');
  const [template, setTemplate] = useState<TemplateName>(storedTemplate);
  const [modelId, setModelId] = useState<number | ''>('');
  const [summary, setSummary] = useState<DatasetSummaryValue | null>(null);
  const [error, setError] = useState<AppErrorValue | null>(null);
  const [busy, setBusy] = useState(false);
  const storedStats = (dataset.stats.tokens ?? null) as DatasetSummaryValue['stats'] | null;
  const stats = summary?.stats ?? storedStats ?? undefined;
  const measuredWith = summary?.tokenizer?.file ?? (dataset.stats.tokenizer as { file?: string } | null)?.file;

  const recompute = async () => {
    setBusy(true);
    setError(null);
    const r = await api.datasets.stats({
      id: dataset.id,
      template,
      ...(question ? { questionColumn: question } : {}),
      ...(answer ? { answerColumn: answer } : {}),
      ...(modelId !== '' ? { modelId } : {}),
    });
    setBusy(false);
    if (r.ok) {
      setSummary(r.value.summary);
      onChanged();
    } else setError(r.error);
  };
  const columns = preview.status === 'ok' ? preview.value.columns : [];
  return (
    <Shell
      open
      wide
      onClose={onClose}
      busy={busy}
      title={`${s.details}: ${dataset.name}`}
      testId="dataset-details-dialog"
      actions={
        <>
          <Button onClick={recompute} disabled={busy} data-testid="dataset-recompute">
            {s.recompute}
          </Button>
          <Button variant="contained" onClick={onClose} disabled={busy}>
            {s.close}
          </Button>
        </>
      }
    >
      <Typography variant="subtitle2">{s.preview}</Typography>
      {preview.status === 'ok' ? (
        <Box sx={{ maxHeight: 300, overflow: 'auto' }}>
          <Table size="small" data-testid="dataset-preview">
            <TableHead>
              <TableRow>
                <TableCell>{s.where}</TableCell>
                {columns.map((c) => (
                  <TableCell key={c} sx={{ fontWeight: 650 }}>
                    {c}
                  </TableCell>
                ))}
              </TableRow>
            </TableHead>
            <TableBody>
              {preview.value.rows.map((r, i) => (
                <TableRow key={i}>
                  <TableCell sx={{ fontFamily: monoFonts, whiteSpace: 'nowrap' }}>{origin(preview.value.origins[i])}</TableCell>
                  {columns.map((c) => (
                    <TableCell key={c} sx={{ maxWidth: 420, verticalAlign: 'top' }}>
                      {typeof r[c] === 'string' ? (r[c] as string) : JSON.stringify(r[c])}
                    </TableCell>
                  ))}
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </Box>
      ) : (
        <LinearProgress />
      )}
      <PrepareFields
        columns={columns}
        question={question}
        answer={answer}
        template={template}
        modelId={modelId}
        models={models.status === 'ok' ? models.value : []}
        onChange={(p) => {
          if (p.question !== undefined) setQuestion(p.question);
          if (p.answer !== undefined) setAnswer(p.answer);
          if (p.template !== undefined) setTemplate(p.template);
          if (p.modelId !== undefined) setModelId(p.modelId);
        }}
      />
      {busy && <LinearProgress />}
      {summary && <SummaryView summary={summary} />}
      <Typography variant="subtitle2">{s.statistics}</Typography>
      {stats && measuredWith && (
        <Typography variant="caption" color="text.secondary" sx={{ fontFamily: monoFonts, wordBreak: 'break-all' }}>
          {fill(s.measuredWith, { file: measuredWith })}
        </Typography>
      )}
      {stats ? <DatasetStatsView stats={stats} /> : <Typography color="text.secondary">{s.noStats}</Typography>}
      <ErrorView error={error} />
    </Shell>
  );
}

export function DeleteDatasetDialog({ dataset, onClose, onDeleted }: { dataset: Dataset | null; onClose: () => void; onDeleted: () => void }) {
  const { language } = useI18n();
  const s = datasetStrings(language);
  const [error, setError] = useState<AppErrorValue | null>(null);
  const [busy, setBusy] = useState(false);
  if (!dataset) return null;
  const doDelete = async () => {
    setBusy(true);
    setError(null);
    const r = await api.datasets.delete({ id: dataset.id });
    setBusy(false);
    if (r.ok) {
      onDeleted();
      onClose();
    } else setError(r.error);
  };
  return (
    <Shell
      open
      onClose={onClose}
      busy={busy}
      title={fill(s.deleteTitle, { name: dataset.name })}
      testId="dataset-delete-dialog"
      actions={
        <>
          <Button onClick={onClose} disabled={busy}>
            {s.cancel}
          </Button>
          <Button color="error" variant="contained" onClick={doDelete} disabled={busy} data-testid="dataset-delete-confirm">
            {s.delete}
          </Button>
        </>
      }
    >
      <Typography>{fill(dataset.copied ? s.deleteCopied : s.deleteReferenced, { path: dataset.storedPath })}</Typography>
      <ErrorView error={error} />
    </Shell>
  );
}
