// The Datasets page's dialogs: import (check first: columns, splits, skipped rows, token
// statistics; then copy and record), details (preview, re-map, template, statistics), and
// delete (asks, and says whether files go: only the app's own copy ever does).
import { useState } from 'react';
import {
  Alert,
  Box,
  Button,
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
import type { Dataset, DatasetSummaryValue } from '../../../common/contract/datasets';
import type { Model } from '../../../common/contract/models';
import { useI18n } from '../../i18n';
import { api } from '../../state/api';
import { PathField } from '../../components/PathField';
import { DialogFrame } from '../../components/DialogFrame';
import { DialogError } from '../../components/DialogError';
import { TaskProgress } from '../../components/TaskProgress';
import { CancelThenDeleteButtons, CheckThenImportButtons } from '../../components/DialogButtons';
import { useDialogCall } from '../../components/use-dialog-call';
import { useQuery } from '../../state/use-query';
import { formatNumber } from '../../components/format';
import { monoFonts } from '../../theme';
import { DatasetStatsView } from './DatasetStatsView';
import { datasetStrings, fill } from './strings';

type TemplateName = 'default' | 'teknofest';

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

/** What the import and details dialogs both let the person choose before token statistics are measured. */
type PrepareChoices = { question: string; answer: string; template: TemplateName; modelId: number | '' };

/** Column mapping, template and model pickers shared by import and details. */
function PrepareFields(props: PrepareChoices & { columns: string[]; models: Model[]; onChange: (p: Partial<PrepareChoices>) => void }) {
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
  const [choices, setChoices] = useState<PrepareChoices>({ question: '', answer: '', template: 'default', modelId: '' });
  const { question, answer, template, modelId } = choices;
  const [ratio, setRatio] = useState('0.1');
  const [seed, setSeed] = useState('42');
  const [summary, setSummary] = useState<DatasetSummaryValue | null>(null);
  const { busy, error, call } = useDialogCall();

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
    setSummary(null);
    const r = await call(() => api.datasets.inspect(request()));
    if (r.ok) setSummary(r.value);
  };
  const doImport = async () => {
    const r = await call(() => api.datasets.import({ ...request(), ...(name.trim() ? { name: name.trim() } : {}) }));
    if (r.ok) {
      onImported(r.value.dataset);
      setPath('');
      setName('');
      setSummary(null);
      onClose();
    }
  };
  return (
    <DialogFrame
      maxWidth="md"
      open={open}
      onClose={onClose}
      busy={busy}
      title={s.importTitle}
      testId="dataset-import-dialog"
      actions={
        <CheckThenImportButtons
          labels={s}
          busy={busy}
          ready={!!path.trim()}
          onCancel={onClose}
          onCheck={check}
          onImport={doImport}
          checkTestId="dataset-import-check"
          importTestId="dataset-import-submit"
        />
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
      <PrepareFields {...choices} columns={summary?.columns ?? []} models={models.status === 'ok' ? models.value : []} onChange={(p) => setChoices((c) => ({ ...c, ...p }))} />
      <Stack direction="row" spacing={2}>
        <TextField label={s.splitRatio} value={ratio} onChange={(e) => setRatio(e.target.value)} sx={{ width: 260 }} slotProps={{ htmlInput: { inputMode: 'decimal' } }} />
        <TextField label={s.seed} value={seed} onChange={(e) => setSeed(e.target.value)} sx={{ width: 140 }} slotProps={{ htmlInput: { inputMode: 'numeric' } }} />
      </Stack>
      {busy && <TaskProgress testId="dataset-progress" />}
      {summary && <SummaryView summary={summary} />}
      {summary?.stats && <DatasetStatsView stats={summary.stats} />}
      <DialogError error={error} testId="dataset-dialog-error" />
    </DialogFrame>
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
  const [choices, setChoices] = useState<PrepareChoices>({ question: mapping.question ?? '', answer: mapping.answer ?? '', template: storedTemplate, modelId: '' });
  const { question, answer, template, modelId } = choices;
  const [summary, setSummary] = useState<DatasetSummaryValue | null>(null);
  const { busy, error, call } = useDialogCall();
  const storedStats = (dataset.stats.tokens ?? null) as DatasetSummaryValue['stats'] | null;
  const stats = summary?.stats ?? storedStats ?? undefined;
  const measuredWith = summary?.tokenizer?.file ?? (dataset.stats.tokenizer as { file?: string } | null)?.file;

  const recompute = async () => {
    const r = await call(() =>
      api.datasets.stats({
        id: dataset.id,
        template,
        ...(question ? { questionColumn: question } : {}),
        ...(answer ? { answerColumn: answer } : {}),
        ...(modelId !== '' ? { modelId } : {}),
      }),
    );
    if (r.ok) {
      setSummary(r.value.summary);
      onChanged();
    }
  };
  const columns = preview.status === 'ok' ? preview.value.columns : [];
  return (
    <DialogFrame
      open
      maxWidth="lg"
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
      <PrepareFields {...choices} columns={columns} models={models.status === 'ok' ? models.value : []} onChange={(p) => setChoices((c) => ({ ...c, ...p }))} />
      {busy && <TaskProgress />}
      {summary && <SummaryView summary={summary} />}
      <Typography variant="subtitle2">{s.statistics}</Typography>
      {stats && measuredWith && (
        <Typography variant="caption" color="text.secondary" sx={{ fontFamily: monoFonts, wordBreak: 'break-all' }}>
          {fill(s.measuredWith, { file: measuredWith })}
        </Typography>
      )}
      {stats ? <DatasetStatsView stats={stats} /> : <Typography color="text.secondary">{s.noStats}</Typography>}
      <DialogError error={error} testId="dataset-dialog-error" />
    </DialogFrame>
  );
}

export function DeleteDatasetDialog({ dataset, onClose, onDeleted }: { dataset: Dataset | null; onClose: () => void; onDeleted: () => void }) {
  const { language } = useI18n();
  const s = datasetStrings(language);
  const { busy, error, call } = useDialogCall();
  if (!dataset) return null;
  const doDelete = async () => {
    const r = await call(() => api.datasets.delete({ id: dataset.id }));
    if (r.ok) {
      onDeleted();
      onClose();
    }
  };
  return (
    <DialogFrame
      maxWidth="md"
      open
      onClose={onClose}
      busy={busy}
      title={fill(s.deleteTitle, { name: dataset.name })}
      testId="dataset-delete-dialog"
      actions={<CancelThenDeleteButtons labels={s} busy={busy} onCancel={onClose} onDelete={doDelete} deleteTestId="dataset-delete-confirm" />}
    >
      <Typography>{fill(dataset.copied ? s.deleteCopied : s.deleteReferenced, { path: dataset.storedPath })}</Typography>
      <DialogError error={error} testId="dataset-dialog-error" />
    </DialogFrame>
  );
}
