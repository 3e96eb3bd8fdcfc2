// The Models page's actions: import a folder (check first, then copy or reference), pull
// from the Hub with a progress bar fed by `models:progress`, and delete after asking —
// saying plainly whether files will be removed (only the app's own copies ever are).
import { useEffect, useState } from 'react';
import { Alert, Button, Checkbox, FormControlLabel, Radio, RadioGroup, TextField, Typography } from '@mui/material';
import type { HubTokenStatus, Model, ModelProgress, ModelSummary } from '../../../common/contract/models';
import { useI18n } from '../../i18n';
import { api } from '../../state/api';
import { PathField } from '../../components/PathField';
import { DialogFrame } from '../../components/DialogFrame';
import { DialogError } from '../../components/DialogError';
import { TaskProgress } from '../../components/TaskProgress';
import { CancelThenDeleteButtons, CheckThenImportButtons } from '../../components/DialogButtons';
import { useDialogCall } from '../../components/use-dialog-call';
import { formatBytes, formatCount, formatNumber } from '../../components/format';
import { fill, modelStrings } from './strings';

/** The latest progress event for one source (folder path or repo id) while `active`. */
export function useModelProgress(source: string, active: boolean): ModelProgress | null {
  const [p, setP] = useState<ModelProgress | null>(null);
  useEffect(() => {
    if (!active) return;
    const off = api.on('models:progress', (batch) => {
      const mine = batch.filter((e) => e.source === source);
      if (mine.length) setP(mine[mine.length - 1]);
    });
    return () => {
      off();
      setP(null);
    };
  }, [source, active]);
  return p;
}

function ProgressView({ progress }: { progress: ModelProgress | null }) {
  const { language } = useI18n();
  const s = modelStrings(language);
  if (!progress) return <TaskProgress testId="model-progress" />;
  const pct = progress.bytesTotal ? Math.min(100, (100 * progress.bytesDone) / progress.bytesTotal) : null;
  return (
    <TaskProgress
      testId="model-progress"
      percent={pct}
      caption={
        <>
          {s[`phase_${progress.phase}` as keyof typeof s]}
          {progress.file ? ` · ${progress.file}` : ''}
          {progress.bytesTotal ? ` · ${formatBytes(progress.bytesDone, language)} / ${formatBytes(progress.bytesTotal, language)}` : ''}
        </>
      }
    />
  );
}

function SummaryView({ summary }: { summary: ModelSummary }) {
  const { language } = useI18n();
  const s = modelStrings(language);
  return (
    <Alert severity={summary.warnings.length ? 'warning' : 'success'} data-testid="model-check-result">
      <Typography variant="body2" sx={{ fontWeight: 650 }}>
        {summary.name}
      </Typography>
      <Typography variant="body2">
        {fill(s.checked, {
          arch: summary.architecture,
          params: formatCount(summary.paramCount, language),
          enc: summary.numLayers,
          dec: summary.numDecoderLayers,
          vocab: formatNumber(summary.vocabSize, language),
          dtype: summary.dtype,
          format: summary.format,
        })}
      </Typography>
      {summary.warnings.map((w) => (
        <Typography key={w} variant="caption" component="div">
          {w}
        </Typography>
      ))}
    </Alert>
  );
}

export function ImportModelDialog({ open, onClose, onImported }: { open: boolean; onClose: () => void; onImported: (m: Model) => void }) {
  const { language } = useI18n();
  const s = modelStrings(language);
  const [path, setPath] = useState('');
  const [name, setName] = useState('');
  const [mode, setMode] = useState<'copy' | 'reference'>('copy');
  const [summary, setSummary] = useState<ModelSummary | null>(null);
  const { busy, error, call } = useDialogCall();
  const progress = useModelProgress(path.trim(), busy);

  const check = async () => {
    setSummary(null);
    const r = await call(() => api.models.inspect({ path: path.trim() }));
    if (r.ok) setSummary(r.value);
  };
  const doImport = async () => {
    const r = await call(() => api.models.import({ path: path.trim(), mode, ...(name.trim() ? { name: name.trim() } : {}) }));
    if (r.ok) {
      onImported(r.value.model);
      setPath('');
      setName('');
      setSummary(null);
      onClose();
    }
  };
  return (
    <DialogFrame
      maxWidth="sm"
      open={open}
      onClose={onClose}
      busy={busy}
      title={s.importTitle}
      testId="model-import-dialog"
      actions={
        <CheckThenImportButtons
          labels={s}
          busy={busy}
          ready={!!path.trim()}
          onCancel={onClose}
          onCheck={check}
          onImport={doImport}
          checkTestId="model-import-check"
          importTestId="model-import-submit"
        />
      }
    >
      <Typography variant="body2" color="text.secondary">
        {s.importHelp}
      </Typography>
      <PathField label={s.path} value={path} onChange={(p) => (setPath(p), setSummary(null))} kind="folder" testId="model-import-path" autoFocus />
      <TextField label={s.name} value={name} onChange={(e) => setName(e.target.value)} fullWidth slotProps={{ htmlInput: { 'data-testid': 'model-import-name' } }} />
      <RadioGroup value={mode} onChange={(e) => setMode(e.target.value as 'copy' | 'reference')}>
        <FormControlLabel value="copy" control={<Radio />} label={s.modeCopy} />
        <FormControlLabel value="reference" control={<Radio />} label={s.modeReference} data-testid="model-import-reference" />
      </RadioGroup>
      {summary && <SummaryView summary={summary} />}
      {busy && <ProgressView progress={progress} />}
      <DialogError error={error} testId="model-dialog-error" />
    </DialogFrame>
  );
}

export function PullModelDialog({ open, onClose, onImported }: { open: boolean; onClose: () => void; onImported: (m: Model) => void }) {
  const { language } = useI18n();
  const s = modelStrings(language);
  const [repo, setRepo] = useState('');
  const [revision, setRevision] = useState('');
  const [token, setToken] = useState('');
  const [remember, setRemember] = useState(false);
  const [tokenStatus, setTokenStatus] = useState<HubTokenStatus | null>(null);
  const { busy, error, setError, call } = useDialogCall();
  const progress = useModelProgress(repo.trim(), busy);
  useEffect(() => {
    if (!open) return;
    let live = true;
    void api.models.hubToken({}).then((r) => live && r.ok && setTokenStatus(r.value));
    return () => {
      live = false;
    };
  }, [open]);
  const forget = async () => {
    const r = await api.models.setHubToken({ token: null });
    if (r.ok) setTokenStatus(r.value);
    else setError(r.error);
  };
  const valid = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/.test(repo.trim());

  const pull = async () => {
    const r = await call(async () => {
      if (remember && token.trim()) {
        // Kept in the OS keychain by main; the UI never sees it again.
        const saved = await api.models.setHubToken({ token: token.trim() });
        if (!saved.ok) return saved;
        setTokenStatus(saved.value);
      }
      const pulled = await api.models.pull({
        repo: repo.trim(),
        ...(revision.trim() ? { revision: revision.trim() } : {}),
        ...(token.trim() ? { token: token.trim() } : {}),
      });
      setToken('');
      return pulled;
    });
    if (r.ok) {
      onImported(r.value.model);
      setRepo('');
      setRevision('');
      onClose();
    }
  };
  return (
    <DialogFrame
      maxWidth="sm"
      open={open}
      onClose={onClose}
      busy={busy}
      title={s.pullTitle}
      testId="model-pull-dialog"
      actions={
        <>
          {busy ? (
            <Button onClick={() => void api.models.cancelPull({ repo: repo.trim() })} data-testid="model-pull-cancel">
              {s.stop}
            </Button>
          ) : (
            <Button onClick={onClose}>{s.cancel}</Button>
          )}
          <Button variant="contained" onClick={pull} disabled={busy || !valid} data-testid="model-pull-submit">
            {s.pull}
          </Button>
        </>
      }
    >
      <Typography variant="body2" color="text.secondary">
        {s.pullHelp}
      </Typography>
      <TextField label={s.repo} value={repo} onChange={(e) => setRepo(e.target.value)} autoFocus fullWidth placeholder="Turkish-NLP/t5-efficient-base-turkish" slotProps={{ htmlInput: { 'data-testid': 'model-pull-repo', spellCheck: false } }} />
      <TextField label={s.revision} value={revision} onChange={(e) => setRevision(e.target.value)} fullWidth />
      <TextField label={s.token} value={token} onChange={(e) => setToken(e.target.value)} type="password" autoComplete="off" fullWidth />
      {tokenStatus?.canStore && (
        <FormControlLabel control={<Checkbox checked={remember} onChange={(e) => setRemember(e.target.checked)} />} label={s.rememberToken} />
      )}
      {tokenStatus?.stored && (
        <Typography variant="caption" color="text.secondary" data-testid="model-pull-token-status">
          {tokenStatus.source === 'keychain' ? s.tokenInKeychain : s.tokenInEnvironment}{' '}
          {tokenStatus.source === 'keychain' && (
            <Button size="small" onClick={forget}>
              {s.forgetToken}
            </Button>
          )}
        </Typography>
      )}
      {busy && <ProgressView progress={progress} />}
      <DialogError error={error} testId="model-dialog-error" />
    </DialogFrame>
  );
}

export function DeleteModelDialog({ model, onClose, onDeleted }: { model: Model | null; onClose: () => void; onDeleted: () => void }) {
  const { language } = useI18n();
  const s = modelStrings(language);
  const { busy, error, setError, call } = useDialogCall();
  const remove = async () => {
    if (!model) return;
    const r = await call(() => api.models.delete({ id: model.id }));
    if (r.ok) {
      onDeleted();
      onClose();
    }
  };
  return (
    <DialogFrame
      maxWidth="sm"
      open={model !== null}
      onClose={() => (setError(null), onClose())}
      busy={busy}
      title={fill(s.deleteTitle, { name: model?.name ?? '' })}
      testId="model-delete-dialog"
      actions={<CancelThenDeleteButtons labels={s} busy={busy} onCancel={onClose} onDelete={remove} deleteTestId="model-delete-confirm" autoFocusCancel />}
    >
      <Typography variant="body2">{fill(model?.copied ? s.deleteCopied : s.deleteReferenced, { path: model?.storedPath ?? '' })}</Typography>
      <DialogError error={error} testId="model-dialog-error" />
    </DialogFrame>
  );
}
