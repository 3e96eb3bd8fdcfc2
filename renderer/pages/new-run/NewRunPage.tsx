// New run: base model + dataset + preset -> a training run. The pickers list what is imported
// (models:list, datasets:list); the presets are the shared ones (resources/presets via
// common/training), the same the CLI's `hukuk train --preset` uses.
import { useState } from 'react';
import {
  Box,
  Card,
  CardActionArea,
  CardContent,
  Chip,
  FormControl,
  FormHelperText,
  InputLabel,
  MenuItem,
  Paper,
  Select,
  Stack,
  Typography,
} from '@mui/material';
import CheckCircleIcon from '@mui/icons-material/CheckCircle';
import PlayArrowIcon from '@mui/icons-material/PlayArrow';
import { TRAINING_PRESETS, configFromPreset } from '../../../common/training/presets';
import type { TrainingPreset } from '../../../common/training/config';
import { useI18n, type Language, type Translate } from '../../i18n';
import { api } from '../../state/api';
import { useQuery } from '../../state/use-query';
import { PageHeader } from '../../components/PageHeader';
import { DisabledAction } from '../../components/DisabledAction';
import { formatNumber } from '../../components/format';

const defaultPreset = 'flagship-qlora';

export function NewRunPage() {
  const { t, language } = useI18n();
  const [presetName, setPresetName] = useState(TRAINING_PRESETS.some((p) => p.name === defaultPreset) ? defaultPreset : TRAINING_PRESETS[0]?.name);
  const [modelId, setModelId] = useState<number | ''>('');
  const [datasetId, setDatasetId] = useState<number | ''>('');
  const models = useQuery(() => api.models.list({}));
  const datasets = useQuery(() => api.datasets.list({}));
  const modelList = models.status === 'ok' ? models.value : [];
  const datasetList = datasets.status === 'ok' ? datasets.value : [];
  const ready = modelId !== '' && datasetId !== '';

  return (
    <>
      <PageHeader
        route="new-run"
        title={t('newRun.title')}
        subtitle={t('newRun.subtitle')}
        actions={
          <DisabledAction reason={ready ? t('newRun.notYet') : t('newRun.needModelAndData')} variant="contained" startIcon={<PlayArrowIcon />} testId="new-run-start">
            {t('newRun.start')}
          </DisabledAction>
        }
      />
      <Stack spacing={3}>
        <Paper variant="outlined" sx={{ p: 3 }}>
          <Stack direction={{ xs: 'column', md: 'row' }} spacing={2}>
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
              <PresetCard key={p.name} preset={p} language={language} selected={p.name === presetName} onSelect={() => setPresetName(p.name)} t={t} />
            ))}
          </Box>
        </Box>
      </Stack>
    </>
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
