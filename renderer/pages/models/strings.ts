// Text of the model import / pull / delete dialogs, Turkish and English. Kept beside the
// dialogs (not in i18n/*.ts) so this page's import flow stays in one folder.
import type { Language } from '../../i18n';

const en = {
  importTitle: 'Import a model folder',
  importHelp:
    'A Hugging Face model folder: config.json, model.safetensors (or pytorch_model.bin, converted at import), and the tokenizer (spiece.model or tokenizer.json).',
  path: 'Folder path',
  name: 'Name (optional)',
  modeCopy: 'Copy into the data folder (recommended)',
  modeReference: 'Use the folder where it is (the app never deletes it)',
  check: 'Check',
  import: 'Import',
  cancel: 'Cancel',
  close: 'Close',
  pullTitle: 'Pull a model from Hugging Face',
  pullHelp: 'Downloads config, tokenizer and safetensors weights (or pytorch_model.bin) with resume, verifies sizes and hashes, then imports. Only this goes online.',
  repo: 'Repository (owner/name)',
  revision: 'Revision (optional, default main)',
  token: 'Access token (only for gated or private repositories; not stored)',
  pull: 'Pull',
  stop: 'Stop (resume later)',
  rememberToken: 'Remember the token in the OS keychain',
  tokenInKeychain: 'A token is kept in the OS keychain and used for pulls.',
  tokenInEnvironment: 'The token in HF_TOKEN is used for pulls.',
  forgetToken: 'Forget it',
  deleteTitle: 'Delete “{name}”?',
  deleteCopied: 'The model and its files in the data folder ({path}) will be removed. Runs that used it keep their records.',
  deleteReferenced: 'The model is removed from the list. Its folder ({path}) is yours: the app will not delete it.',
  delete: 'Delete',
  checked: '{arch} · {params} parameters · {enc} + {dec} layers · vocabulary {vocab} · {dtype} · {format}',
  phase_listing: 'Listing files',
  phase_downloading: 'Downloading',
  phase_hashing: 'Computing hashes',
  phase_copying: 'Copying',
  phase_converting: 'Converting to safetensors',
  phase_verifying: 'Verifying',
  phase_done: 'Done',
  imported: 'Imported “{name}”.',
  actions: 'Actions',
} as const;

export type ModelStrings = { [K in keyof typeof en]: string };

const tr: ModelStrings = {
  importTitle: 'Model klasörü içe aktar',
  importHelp:
    'Bir Hugging Face model klasörü: config.json, model.safetensors (ya da içe aktarırken dönüştürülen pytorch_model.bin) ve tokenizer (spiece.model veya tokenizer.json).',
  path: 'Klasör yolu',
  name: 'Ad (isteğe bağlı)',
  modeCopy: 'Veri klasörüne kopyala (önerilen)',
  modeReference: 'Klasörü olduğu yerde kullan (uygulama onu asla silmez)',
  check: 'Denetle',
  import: 'İçe aktar',
  cancel: 'Vazgeç',
  close: 'Kapat',
  pullTitle: 'Hugging Face’ten model indir',
  pullHelp: 'Config, tokenizer ve safetensors ağırlıklarını (ya da pytorch_model.bin) kaldığı yerden devam ederek indirir, boyut ve özetleri doğrular, sonra içe aktarır. Yalnızca bu işlem internete çıkar.',
  repo: 'Depo (sahip/ad)',
  revision: 'Sürüm (isteğe bağlı, varsayılan main)',
  token: 'Erişim anahtarı (yalnızca kısıtlı veya özel depolar için; saklanmaz)',
  pull: 'İndir',
  stop: 'Durdur (sonra devam edilir)',
  rememberToken: 'Anahtarı işletim sisteminin anahtar zincirinde sakla',
  tokenInKeychain: 'Anahtar zincirinde saklı bir erişim anahtarı var; indirmelerde kullanılır.',
  tokenInEnvironment: 'HF_TOKEN ortam değişkenindeki anahtar kullanılır.',
  forgetToken: 'Unut',
  deleteTitle: '“{name}” silinsin mi?',
  deleteCopied: 'Model ve veri klasöründeki dosyaları ({path}) silinecek. Onu kullanan eğitimlerin kayıtları kalır.',
  deleteReferenced: 'Model listeden kaldırılır. Klasörü ({path}) sizindir: uygulama onu silmez.',
  delete: 'Sil',
  checked: '{arch} · {params} parametre · {enc} + {dec} katman · sözlük {vocab} · {dtype} · {format}',
  phase_listing: 'Dosyalar listeleniyor',
  phase_downloading: 'İndiriliyor',
  phase_hashing: 'Özetler hesaplanıyor',
  phase_copying: 'Kopyalanıyor',
  phase_converting: 'safetensors biçimine dönüştürülüyor',
  phase_verifying: 'Doğrulanıyor',
  phase_done: 'Bitti',
  imported: '“{name}” içe aktarıldı.',
  actions: 'İşlemler',
};

export function modelStrings(language: Language): ModelStrings {
  return language === 'tr' ? tr : en;
}

export function fill(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (whole, k: string) => (k in values ? String(values[k]) : whole));
}
