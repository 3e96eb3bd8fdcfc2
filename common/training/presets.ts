// The training presets shipped in resources/presets/, bundled into every process (the run form
// lists them; the CLI's --preset and main take them by name). Each is checked against the
// schema at import, so a broken preset fails loudly in tests, not in a user's run.
import flagship from '../../resources/presets/flagship-qlora.json';
import memorySaver from '../../resources/presets/memory-saver.json';
import quickCpu from '../../resources/presets/quick-cpu-smoke.json';
import { resolveTrainingConfig, TrainingPresetSchema, type TrainingConfig, type TrainingConfigInput, type TrainingPreset } from './config';

export const TRAINING_PRESETS: readonly TrainingPreset[] = [quickCpu, flagship, memorySaver].map((p) => {
  const parsed = TrainingPresetSchema.safeParse(p);
  if (!parsed.success) throw new Error(`preset ${String((p as { name?: unknown }).name)}: ${parsed.error.message}`);
  // Keep the preset's own fields only (partial() would fill defaults in).
  return { ...parsed.data, config: p.config as TrainingPreset['config'] };
});

export function findPreset(name: string): TrainingPreset | undefined {
  return TRAINING_PRESETS.find((p) => p.name === name);
}

/** A preset (by name) with overrides on top, validated as a whole. */
export function configFromPreset(name: string | undefined, overrides: TrainingConfigInput = {}): TrainingConfig {
  if (!name) return resolveTrainingConfig(overrides);
  const p = findPreset(name);
  if (!p) throw new Error(`unknown preset '${name}' (known: ${TRAINING_PRESETS.map((x) => x.name).join(', ')})`);
  return resolveTrainingConfig(p.config as TrainingConfigInput, overrides);
}
