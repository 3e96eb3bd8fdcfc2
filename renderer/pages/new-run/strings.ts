// Text of the run form (New run), Turkish and English, kept beside the page.
import type { Language } from '../../i18n';

const en = {
  name: 'Run name',
  settings: 'Training settings',
  settingsHelp: 'Filled from the preset; change any field. Checked with the same rules the trainer uses.',
  device: 'Device',
  cpu: 'CPU',
  cuda: 'GPU (CUDA)',
  quantization: 'Base weights',
  nf4: '4-bit NF4 (QLoRA)',
  none: 'Full precision (fp32)',
  loraR: 'LoRA rank r',
  loraAlpha: 'LoRA alpha',
  loraDropout: 'LoRA dropout',
  targets: 'LoRA target modules',
  learningRate: 'Learning rate',
  batchSize: 'Batch size',
  accumulation: 'Gradient accumulation',
  epochs: 'Epochs',
  maxSteps: 'Max updates (0 = use epochs)',
  maxSource: 'Max question tokens',
  maxTarget: 'Max answer tokens',
  suggested: 'Dataset suggests {n} (covers 99% of rows)',
  useSuggested: 'Use {n}',
  evalEvery: 'Validation loss every N updates',
  checkpointEvery: 'Checkpoint every N updates (0 = none)',
  seed: 'Seed',
  start: 'Start training',
  starting: 'Starting…',
  started: 'Run “{name}” started',
  invalid: 'Fix the highlighted fields first.',
  defaultName: 'Run {date}',
};
type Strings = typeof en;

const tr: Strings = {
  name: 'Eğitim adı',
  settings: 'Eğitim ayarları',
  settingsHelp: 'Hazır ayardan doldurulur; her alanı değiştirebilirsiniz. Eğiticinin kullandığı kurallarla denetlenir.',
  device: 'Aygıt',
  cpu: 'CPU',
  cuda: 'GPU (CUDA)',
  quantization: 'Temel ağırlıklar',
  nf4: '4 bit NF4 (QLoRA)',
  none: 'Tam duyarlık (fp32)',
  loraR: 'LoRA rankı r',
  loraAlpha: 'LoRA alfa',
  loraDropout: 'LoRA dropout',
  targets: 'LoRA hedef modülleri',
  learningRate: 'Öğrenme oranı',
  batchSize: 'Yığın boyutu',
  accumulation: 'Gradyan biriktirme',
  epochs: 'Dönem (epoch)',
  maxSteps: 'En çok güncelleme (0 = dönem sayısı)',
  maxSource: 'En çok soru tokeni',
  maxTarget: 'En çok cevap tokeni',
  suggested: 'Veri kümesi önerisi {n} (satırların %99’u)',
  useSuggested: '{n} kullan',
  evalEvery: 'Her N güncellemede doğrulama kaybı',
  checkpointEvery: 'Her N güncellemede ara kayıt (0 = yok)',
  seed: 'Tohum (seed)',
  start: 'Eğitimi başlat',
  starting: 'Başlatılıyor…',
  started: '“{name}” eğitimi başladı',
  invalid: 'Önce işaretli alanları düzeltin.',
  defaultName: 'Eğitim {date}',
};

export function newRunStrings(language: Language): Strings {
  return language === 'tr' ? tr : en;
}

export function fill(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in values ? String(values[k]) : m));
}
