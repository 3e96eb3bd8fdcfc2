// New run: base model + dataset + preset (+ the settings changed here) -> runs:create, then
// the run's page, where its curves grow. The pickers list what is imported (models:list,
// datasets:list); the presets are the shared ones (resources/presets via common/training), the
// same the CLI's `hukuk train --preset` uses; the configuration is checked by the same schema
// main and the trainer use.
import { useState } from 'react';
import {
  Box,
  Button,
  Card,
  CardActionArea,
  CardContent,
  Checkbox,
  Chip,
  FormControl,
  FormControlLabel,
  FormGroup,
  FormHelperText,
  FormLabel,
  InputLabel,
  MenuItem,
  Paper,
  Select,
  Stack,
  TextField,
  Typography,
} from '@mui/material';
import CheckCircleIcon from '@mui/icons-material/CheckCircle';
import PlayArrowIcon from '@mui/icons-material/PlayArrow';
import { TRAINING_PRESETS, configFromPreset } from '../../../common/training/presets';
import { LORA_TARGETS, TrainingConfigSchema, type TrainingConfig, type TrainingPreset } from '../../../common/training/config';
import { useI18n, type Language, type Translate } from '../../i18n';
import { api } from '../../state/api';
import { useQuery } from '../../state/use-query';
import { useNotify, useReportError } from '../../state/errors';
import { navigate } from '../../state/router';
import { fill, newRunStrings } from './strings';
import { PageHeader } from '../../components/PageHeader';
import { DisabledAction } from '../../components/DisabledAction';
import { formatNumber } from '../../components/format';
import { modelShapeFromConfig } from '../../../common/training/memory-estimate';
import { plannedTrainingMemory, type PlannedMemory } from '../../../common/training/gradient-checkpointing';
import type { Model } from '../../../common/contract/models';
import type { SystemInfo } from '../../../common/contract/system';

const defaultPreset = 'flagship-qlora';

export function NewRunPage() {
  const { t, language } = useI18n();
  const s = newRunStrings(language);
  const report = useReportError();
  const notify = useNotify();
  const [presetName, setPresetName] = useState(TRAINING_PRESETS.some((p) => p.name === defaultPreset) ? defaultPreset : TRAINING_PRESETS[0]?.name);
  const [modelId, setModelId] = useState<number | ''>('');
  const [datasetId, setDatasetId] = useState<number | ''>('');
  const [name, setName] = useState('');
  const [config, setConfig] = useState<TrainingConfig>(() => configFromPreset(presetName));
  const [busy, setBusy] = useState(false);
  const models = useQuery(() => api.models.list({}));
  const datasets = useQuery(() => api.datasets.list({}));
  // For the memory estimate's warning only; the System page is where a failing system:info shows.
  const system = useQuery(() => api.system.info({}), { report: false });
  const modelList = models.status === 'ok' ? models.value : [];
  const datasetList = datasets.status === 'ok' ? datasets.value : [];
  const dataset = datasetList.find((d) => d.id === datasetId);
  const suggestion = suggestedLengths(dataset?.stats);
  // The same schema the trainer and main use; errors by field for the form.
  const checked = TrainingConfigSchema.safeParse(config);
  const errors = new Map<string, string>();
  if (!checked.success) for (const i of checked.error.issues) errors.set(String(i.path[0] ?? ''), i.message);
  const ready = modelId !== '' && datasetId !== '';

  const choosePreset = (n: string) => {
    setPresetName(n);
    setConfig(configFromPreset(n));
  };
  const set = <K extends keyof TrainingConfig>(key: K, value: TrainingConfig[K]) => setConfig((c) => ({ ...c, [key]: value }));

  const start = async () => {
    if (!ready || !checked.success) return;
    setBusy(true);
    const runName = name.trim() || fill(s.defaultName, { date: new Date().toLocaleString(language) });
    const r = await api.runs.create({ name: runName, modelId, datasetId, config: checked.data, device: checked.data.device });
    setBusy(false);
    if (!r.ok) {
      report(r.error);
      return;
    }
    notify(fill(s.started, { name: r.value.name }));
    navigate('runs', r.value.id);
  };

  const startButton = ready && checked.success ? (
    <Button variant="contained" startIcon={<PlayArrowIcon />} onClick={() => void start()} disabled={busy} data-testid="new-run-start">
      {busy ? s.starting : s.start}
    </Button>
  ) : (
    <DisabledAction reason={ready ? s.invalid : t('newRun.needModelAndData')} variant="contained" startIcon={<PlayArrowIcon />} testId="new-run-start">
      {s.start}
    </DisabledAction>
  );

  return (
    <>
      <PageHeader route="new-run" title={t('newRun.title')} subtitle={t('newRun.subtitle')} actions={startButton} />
      <Stack spacing={3}>
        <Paper variant="outlined" sx={{ p: 3 }}>
          <Stack direction={{ xs: 'column', md: 'row' }} spacing={2}>
            <TextField label={s.name} value={name} onChange={(e) => setName(e.target.value)} fullWidth slotProps={{ htmlInput: { 'data-testid': 'new-run-name', maxLength: 200 } }} />
            <Picker
              id="new-run-model"
              label={t('newRun.stepModel')}
              empty={t('newRun.noModels')}
              value={modelId}
              onChange={setModelId}
              options={modelList.map((m) => ({ id: m.id, label: t('newRun.modelOption', { name: m.name, layers: m.numLayers === null ? '?' : `${m.numLayers}+${m.numDecoderLayers ?? m.numLayers}` }) }))}
              loading={models.status === 'loading'}
            />
            <Picker
              id="new-run-dataset"
              label={t('newRun.stepDataset')}
              empty={t('newRun.noDatasets')}
              value={datasetId}
              onChange={setDatasetId}
              options={datasetList.map((d) => ({ id: d.id, label: t('newRun.datasetOption', { name: d.name, rows: formatNumber(d.rowCount, language) }) }))}
              loading={datasets.status === 'loading'}
            />
          </Stack>
        </Paper>
        <Box>
          <Typography variant="h2" component="h2" sx={{ mb: 1.5 }}>
            {t('newRun.stepPreset')}
          </Typography>
          <Box role="radiogroup" aria-label={t('newRun.stepPreset')} sx={{ display: 'grid', gap: 2, gridTemplateColumns: { xs: '1fr', md: 'repeat(3, 1fr)' } }}>
            {TRAINING_PRESETS.map((p) => (
              <PresetCard key={p.name} preset={p} language={language} selected={p.name === presetName} onSelect={() => choosePreset(p.name)} t={t} />
            ))}
          </Box>
        </Box>
        <Paper variant="outlined" sx={{ p: 3 }} data-testid="new-run-form">
          <Typography variant="h2" component="h2">
            {s.settings}
          </Typography>
          <Typography variant="body2" color="text.secondary" sx={{ mb: 2 }}>
            {s.settingsHelp}
          </Typography>
          <Box sx={{ display: 'grid', gap: 2, gridTemplateColumns: { xs: '1fr', sm: 'repeat(2, 1fr)', md: 'repeat(4, 1fr)' } }}>
            <Choice label={s.device} value={config.device} onChange={(v) => set('device', v)} options={[{ value: 'cpu', label: s.cpu }, { value: 'cuda', label: s.cuda }]} error={errors.get('device')} id="cfg-device" />
            <Choice
              label={s.quantization}
              value={config.quantization}
              onChange={(v) => set('quantization', v)}
              options={[{ value: 'nf4', label: s.nf4 }, { value: 'none', label: s.none }]}
              error={errors.get('quantization') ?? errors.get('quantizeWo')}
              id="cfg-quantization"
            />
            <Choice
              label={s.checkpointing}
              value={config.gradientCheckpointing}
              onChange={(v) => set('gradientCheckpointing', v)}
              options={[{ value: 'auto', label: s.checkpointingAuto }, { value: 'on', label: s.checkpointingOn }, { value: 'off', label: s.checkpointingOff }]}
              error={errors.get('gradientCheckpointing')}
              help={s.checkpointingHelp}
              id="cfg-gradient-checkpointing"
            />
            <Num label={s.loraR} value={config.loraR} onChange={(v) => set('loraR', v)} error={errors.get('loraR')} id="cfg-lora-r" />
            <Num label={s.loraAlpha} value={config.loraAlpha} onChange={(v) => set('loraAlpha', v)} error={errors.get('loraAlpha')} id="cfg-lora-alpha" />
            <Num label={s.loraDropout} value={config.loraDropout} step={0.01} onChange={(v) => set('loraDropout', v)} error={errors.get('loraDropout')} id="cfg-lora-dropout" />
            <Num label={s.learningRate} value={config.learningRate} step={1e-5} onChange={(v) => set('learningRate', v)} error={errors.get('learningRate')} id="cfg-lr" />
            <Num label={s.batchSize} value={config.batchSize} onChange={(v) => set('batchSize', v)} error={errors.get('batchSize')} id="cfg-batch" />
            <Num label={s.accumulation} value={config.gradientAccumulationSteps} onChange={(v) => set('gradientAccumulationSteps', v)} error={errors.get('gradientAccumulationSteps')} id="cfg-accum" />
            <Num label={s.epochs} value={config.numEpochs} step={0.5} onChange={(v) => set('numEpochs', v)} error={errors.get('numEpochs')} id="cfg-epochs" />
            <Num label={s.maxSteps} value={config.maxSteps} onChange={(v) => set('maxSteps', v)} error={errors.get('maxSteps') ?? errors.get('warmupSteps')} id="cfg-max-steps" />
            <Num
              label={s.maxSource}
              value={config.maxSourceLength}
              onChange={(v) => set('maxSourceLength', v)}
              error={errors.get('maxSourceLength')}
              help={suggestion.input ? fill(s.suggested, { n: suggestion.input }) : undefined}
              id="cfg-max-source"
            />
            <Num
              label={s.maxTarget}
              value={config.maxTargetLength}
              onChange={(v) => set('maxTargetLength', v)}
              error={errors.get('maxTargetLength')}
              help={suggestion.target ? fill(s.suggested, { n: suggestion.target }) : undefined}
              id="cfg-max-target"
            />
            <Num label={s.evalEvery} value={config.evalEvery} onChange={(v) => set('evalEvery', v)} error={errors.get('evalEvery')} id="cfg-eval-every" />
            <Num label={s.checkpointEvery} value={config.checkpointEvery} onChange={(v) => set('checkpointEvery', v)} error={errors.get('checkpointEvery')} id="cfg-checkpoint-every" />
            <Num label={s.seed} value={config.seed} onChange={(v) => set('seed', v)} error={errors.get('seed')} id="cfg-seed" />
          </Box>
          {(suggestion.input || suggestion.target) && (suggestion.input !== config.maxSourceLength || suggestion.target !== config.maxTargetLength) ? (
            <Button
              size="small"
              sx={{ mt: 1 }}
              data-testid="cfg-use-suggested"
              onClick={() => setConfig((c) => ({ ...c, maxSourceLength: suggestion.input ?? c.maxSourceLength, maxTargetLength: suggestion.target ?? c.maxTargetLength }))}
            >
              {fill(s.useSuggested, { n: `${suggestion.input ?? config.maxSourceLength} / ${suggestion.target ?? config.maxTargetLength}` })}
            </Button>
          ) : null}
          <FormControl component="fieldset" sx={{ mt: 2 }} error={errors.has('targetModules')} data-testid="cfg-targets">
            <FormLabel component="legend">{s.targets}</FormLabel>
            <FormGroup row>
              {LORA_TARGETS.map((m) => (
                <FormControlLabel
                  key={m}
                  label={m}
                  control={
                    <Checkbox
                      checked={config.targetModules.includes(m)}
                      onChange={(e) => set('targetModules', e.target.checked ? [...config.targetModules, m] : config.targetModules.filter((x) => x !== m))}
                      slotProps={{ input: { 'aria-label': m } }}
                    />
                  }
                />
              ))}
            </FormGroup>
            {errors.has('targetModules') && <FormHelperText>{errors.get('targetModules')}</FormHelperText>}
          </FormControl>
          <MemoryEstimateLine
            model={modelList.find((m) => m.id === modelId)}
            config={config}
            system={system.status === 'ok' ? system.value : undefined}
            language={language}
          />
        </Paper>
      </Stack>
    </>
  );
}

/** "Estimated GPU memory: 7.2 GiB (weights 0.9, LoRA 0.2, activations 6.1)" for the form's
 * current settings (common/training/memory-estimate mirrors the engine's allocations), in a
 * warning colour when it exceeds the first GPU (no GPU picker yet) or, on the CPU, the RAM.
 * On the GPU it follows gradient checkpointing: 'on' shows the estimate with recomputation,
 * 'auto' decides as the trainer does (gradient-checkpointing.ts) but against the GPU's total
 * memory, since only the trainer can measure the free memory when the run starts. */
function MemoryEstimateLine({ model, config, system, language }: { model: Model | undefined; config: TrainingConfig; system: SystemInfo | undefined; language: Language }) {
  const s = newRunStrings(language);
  const shape = model ? modelShapeFromConfig(model.config) : null;
  let text: string;
  let over: string | null = null;
  let checkpointingNote: string | null = null;
  let recompute = false;
  if (!model) text = s.memoryNoModel;
  else if (!shape) text = s.memoryNoConfig;
  else {
    let plan: PlannedMemory | null = null;
    const gpu = system?.gpus[0];
    try {
      plan = plannedTrainingMemory(config, shape, gpu?.memoryBytes ?? null);
    } catch {
      plan = null; // a field out of range: the form already marks it
    }
    const gib = (b: number) => new Intl.NumberFormat(language === 'tr' ? 'tr-TR' : 'en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(b / 1024 ** 3);
    if (plan && config.device === 'cuda') {
      recompute = plan.decision.recompute;
      if (config.gradientCheckpointing === 'on') checkpointingNote = fill(s.memoryWithRecompute, { without: gib(plan.without.totalBytes) });
      else if (config.gradientCheckpointing === 'auto')
        checkpointingNote = recompute
          ? fill(s.memoryAutoRecompute, { without: gib(plan.without.totalBytes), name: gpu?.name ?? '', have: gib(gpu?.memoryBytes ?? 0) })
          : fill(s.memoryAutoOff, { with: gib(plan.withRecompute.totalBytes) });
    }
    const e = plan?.shown ?? null;
    if (!e) text = s.invalid;
    else {
      text = fill(config.device === 'cuda' ? s.memoryGpu : s.memoryCpu, { total: gib(e.totalBytes), weights: gib(e.weightsBytes), lora: gib(e.loraBytes), acts: gib(e.activationsBytes) });
      const have = config.device === 'cuda' ? gpu?.memoryBytes : system?.ramBytes;
      if (have !== undefined && e.totalBytes > have) over = fill(config.device === 'cuda' ? s.memoryOverGpu : s.memoryOverRam, { name: gpu?.name ?? '', have: gib(have) });
    }
  }
  return (
    <Box sx={{ mt: 2 }} data-testid="new-run-memory">
      <Typography
        variant="body2"
        color={over ? 'warning.main' : 'text.primary'}
        data-testid="new-run-memory-estimate"
        data-over={over ? 'true' : 'false'}
        data-recompute={recompute ? 'true' : 'false'}
      >
        {text}
      </Typography>
      {checkpointingNote && (
        <Typography variant="caption" color="text.secondary" component="p" data-testid="new-run-memory-checkpointing">
          {checkpointingNote}
        </Typography>
      )}
      <Typography variant="caption" color={over ? 'warning.main' : 'text.secondary'}>
        {over ?? s.memoryHelp}
      </Typography>
    </Box>
  );
}

/** The dataset's suggested max lengths (measured with a tokenizer at import), when known. */
function suggestedLengths(stats: Record<string, unknown> | undefined): { input?: number; target?: number } {
  const tokens = stats?.tokens as { input?: { suggestedMaxLength?: unknown }; target?: { suggestedMaxLength?: unknown } } | null | undefined;
  const n = (v: unknown) => (typeof v === 'number' && v > 1 ? v : undefined);
  return { input: n(tokens?.input?.suggestedMaxLength), target: n(tokens?.target?.suggestedMaxLength) };
}

function Num({ label, value, onChange, error, help, step, id }: { label: string; value: number; onChange: (v: number) => void; error?: string; help?: string; step?: number; id: string }) {
  const [text, setText] = useState(String(value));
  // Follow outside changes (a preset, "use suggested") without fighting the typing.
  if (Number(text) !== value && !(text === '' && Number.isNaN(value))) setText(String(value));
  return (
    <TextField
      label={label}
      type="number"
      size="small"
      value={text}
      error={Boolean(error)}
      helperText={error ?? help}
      onChange={(e) => {
        setText(e.target.value);
        onChange(e.target.value === '' ? Number.NaN : Number(e.target.value));
      }}
      slotProps={{ htmlInput: { step: step ?? 1, 'data-testid': id } }}
    />
  );
}

function Choice<V extends string>({
  label,
  value,
  onChange,
  options,
  error,
  help,
  id,
}: {
  label: string;
  value: V;
  onChange: (v: V) => void;
  options: { value: V; label: string }[];
  error?: string;
  help?: string;
  id: string;
}) {
  return (
    <FormControl size="small" error={Boolean(error)} data-testid={id}>
      <InputLabel id={`${id}-label`}>{label}</InputLabel>
      <Select labelId={`${id}-label`} label={label} value={value} onChange={(e) => onChange(e.target.value as V)}>
        {options.map((o) => (
          <MenuItem key={o.value} value={o.value}>
            {o.label}
          </MenuItem>
        ))}
      </Select>
      {(error ?? help) && <FormHelperText>{error ?? help}</FormHelperText>}
    </FormControl>
  );
}

function Picker({
  id,
  label,
  empty,
  value,
  onChange,
  options,
  loading,
}: {
  id: string;
  label: string;
  empty: string;
  value: number | '';
  onChange: (v: number | '') => void;
  options: { id: number; label: string }[];
  loading: boolean;
}) {
  const disabled = loading || options.length === 0;
  return (
    <FormControl fullWidth disabled={disabled} data-testid={id}>
      <InputLabel id={`${id}-label`}>{label}</InputLabel>
      <Select labelId={`${id}-label`} label={label} value={disabled ? '' : value} onChange={(e) => {
          const v = e.target.value as number | '';
          onChange(v === '' ? '' : Number(v));
        }}>
        {options.length === 0 && <MenuItem value="" />}
        {options.map((o) => (
          <MenuItem key={o.id} value={o.id}>
            {o.label}
          </MenuItem>
        ))}
      </Select>
      {!loading && options.length === 0 && <FormHelperText>{empty}</FormHelperText>}
    </FormControl>
  );
}

function PresetCard({ preset, language, selected, onSelect, t }: { preset: TrainingPreset; language: Language; selected: boolean; onSelect: () => void; t: Translate }) {
  const c = configFromPreset(preset.name);
  const batch = c.batchSize * c.gradientAccumulationSteps;
  return (
    <Card sx={{ borderColor: selected ? 'primary.main' : undefined, boxShadow: (th) => (selected ? `0 0 0 1px ${th.palette.primary.main}` : 'none') }}>
      <CardActionArea
        onClick={onSelect}
        role="radio"
        aria-checked={selected}
        data-testid={`preset-${preset.name}`}
        sx={{ height: '100%', display: 'flex', flexDirection: 'column', alignItems: 'stretch', justifyContent: 'flex-start' }}
      >
        <CardContent>
          <Stack direction="row" spacing={1} sx={{ alignItems: 'flex-start', mb: 1 }}>
            <Typography variant="h3" component="h3" sx={{ flex: 1 }}>
              {preset.title[language]}
            </Typography>
            {selected && <CheckCircleIcon color="primary" fontSize="small" aria-hidden />}
          </Stack>
          <Typography
            variant="body2"
            color="text.secondary"
            title={preset.description[language]}
            sx={{ mb: 1.5, display: '-webkit-box', WebkitLineClamp: 4, WebkitBoxOrient: 'vertical', overflow: 'hidden' }}
          >
            {preset.description[language]}
          </Typography>
          <Stack direction="row" spacing={0.75} useFlexGap sx={{ flexWrap: 'wrap' }}>
            <Chip size="small" color={c.device === 'cuda' ? 'primary' : 'default'} variant="outlined" label={c.device === 'cuda' ? t('newRun.presetGpu') : t('newRun.presetCpu')} />
            <Chip size="small" label={c.quantization === 'nf4' ? t('newRun.preset4bit') : t('newRun.presetFull')} />
            <Chip size="small" label={t('newRun.presetLora', { r: c.loraR, alpha: c.loraAlpha })} />
            <Chip size="small" label={t('newRun.presetLr', { lr: c.learningRate.toExponential() })} />
            <Chip
              size="small"
              label={c.maxSteps > 0 ? t('newRun.presetMaxSteps', { steps: c.maxSteps, batch }) : t('newRun.presetSteps', { epochs: c.numEpochs, batch })}
            />
          </Stack>
        </CardContent>
      </CardActionArea>
    </Card>
  );
}
