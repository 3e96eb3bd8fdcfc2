// The training presets shipped in resources/presets/default-presets.json (also read by the
// trainer's `--preset`), typed for the form.
import file from '../../../resources/presets/default-presets.json';
import type { Language } from '../../i18n';

export interface Preset {
  id: string;
  name: Record<Language, string>;
  description: Record<Language, string>;
  quantizeBase: 'nf4' | 'none';
  lora: { r: number; alpha: number; dropout: number; targetModules: string[]; rslora: boolean };
  training: {
    epochs: number;
    maxSteps: number | null;
    batchSize: number;
    gradientAccumulation: number;
    learningRate: number;
    scheduler: 'linear' | 'cosine' | 'constant';
    warmupRatio: number;
    weightDecay: number;
    maxGradNorm: number;
    evalEverySteps: number;
    seed: number;
  };
  lengths: { maxInputTokens: number; maxTargetTokens: number };
  template: { input: string; target: string };
}

export const presets = file.presets as Preset[];
export const defaultPresetId = 'qlora-balanced';
