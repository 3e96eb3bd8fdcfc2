// New run: base model + dataset + preset -> a training run. The model and dataset pickers
// fill once import exists (issue 3); the presets are real and selectable now.
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
import { useI18n } from '../../i18n';
import { PageHeader } from '../../components/PageHeader';
import { DisabledAction } from '../../components/DisabledAction';
import { defaultPresetId, presets, type Preset } from './presets';

export function NewRunPage() {
  const { t, language } = useI18n();
  const [presetId, setPresetId] = useState(defaultPresetId);

  return (
    <>
      <PageHeader
        route="new-run"
        title={t('newRun.title')}
        subtitle={t('newRun.subtitle')}
        actions={
          <DisabledAction reason={t('newRun.needModelAndData')} variant="contained" startIcon={<PlayArrowIcon />} testId="new-run-start">
            {t('newRun.start')}
          </DisabledAction>
        }
      />
      <Stack spacing={3}>
        <Paper variant="outlined" sx={{ p: 3 }}>
          <Stack direction={{ xs: 'column', md: 'row' }} spacing={2}>
            <EmptyPicker id="new-run-model" label={t('newRun.stepModel')} help={t('newRun.noModels')} />
            <EmptyPicker id="new-run-dataset" label={t('newRun.stepDataset')} help={t('newRun.noDatasets')} />
          </Stack>
        </Paper>
        <Box>
          <Typography variant="h2" component="h2" sx={{ mb: 1.5 }}>
            {t('newRun.stepPreset')}
          </Typography>
          <Box role="radiogroup" aria-label={t('newRun.stepPreset')} sx={{ display: 'grid', gap: 2, gridTemplateColumns: { xs: '1fr', md: 'repeat(3, 1fr)' } }}>
            {presets.map((p) => (
              <PresetCard key={p.id} preset={p} language={language} selected={p.id === presetId} onSelect={() => setPresetId(p.id)} t={t} />
            ))}
          </Box>
        </Box>
      </Stack>
    </>
  );
}

function EmptyPicker({ id, label, help }: { id: string; label: string; help: string }) {
  return (
    <FormControl fullWidth disabled data-testid={id}>
      <InputLabel id={`${id}-label`}>{label}</InputLabel>
      <Select labelId={`${id}-label`} label={label} value="">
        <MenuItem value="" />
      </Select>
      <FormHelperText>{help}</FormHelperText>
    </FormControl>
  );
}

function PresetCard({
  preset,
  language,
  selected,
  onSelect,
  t,
}: {
  preset: Preset;
  language: 'tr' | 'en';
  selected: boolean;
  onSelect: () => void;
  t: ReturnType<typeof useI18n>['t'];
}) {
  const tr = preset.training;
  return (
    <Card sx={{ borderColor: selected ? 'primary.main' : undefined, boxShadow: (th) => (selected ? `0 0 0 1px ${th.palette.primary.main}` : 'none') }}>
      <CardActionArea
        onClick={onSelect}
        role="radio"
        aria-checked={selected}
        data-testid={`preset-${preset.id}`}
        sx={{ height: '100%', display: 'flex', flexDirection: 'column', alignItems: 'stretch', justifyContent: 'flex-start' }}
      >
        <CardContent>
          <Stack direction="row" spacing={1} sx={{ alignItems: 'center', mb: 1 }}>
            <Typography variant="h3" component="h3" sx={{ flex: 1 }}>
              {preset.name[language]}
            </Typography>
            {selected && <CheckCircleIcon color="primary" fontSize="small" aria-hidden />}
          </Stack>
          <Typography variant="body2" color="text.secondary" sx={{ mb: 1.5, minHeight: 60 }}>
            {preset.description[language]}
          </Typography>
          <Stack direction="row" spacing={0.75} useFlexGap sx={{ flexWrap: 'wrap' }}>
            <Chip size="small" label={t('newRun.presetLora', { r: preset.lora.r, alpha: preset.lora.alpha })} />
            <Chip size="small" label={t('newRun.presetLr', { lr: tr.learningRate.toExponential() })} />
            <Chip
              size="small"
              label={
                tr.maxSteps !== null
                  ? t('newRun.presetMaxSteps', { steps: tr.maxSteps, batch: tr.batchSize * tr.gradientAccumulation })
                  : t('newRun.presetSteps', { epochs: tr.epochs, batch: tr.batchSize * tr.gradientAccumulation })
              }
            />
            <Chip size="small" label={preset.quantizeBase === 'nf4' ? t('newRun.preset4bit') : t('newRun.presetFull')} />
          </Stack>
        </CardContent>
      </CardActionArea>
    </Card>
  );
}
