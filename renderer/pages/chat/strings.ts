// Text of the Chat page, Turkish and English, kept beside the page.
import type { Language } from '../../i18n';

const en = {
  sessions: 'Chats',
  newChat: 'New chat',
  pickRun: 'Trained run',
  pickModel: 'or a base model (no adapter)',
  none: 'None',
  create: 'Start chat',
  noTrained: 'No completed run yet: train one on the New run page, or chat with a base model.',
  noSession: 'Pick a chat on the left or start a new one.',
  placeholder: 'Ask a legal question…',
  send: 'Send',
  stop: 'Stop',
  settings: 'Generation settings',
  mode: 'Decoding',
  greedy: 'Greedy',
  beam: 'Beam search',
  sampling: 'Sampling',
  maxNewTokens: 'Max new tokens',
  numBeams: 'Beams',
  temperature: 'Temperature',
  topP: 'Top-p',
  topK: 'Top-k',
  repetitionPenalty: 'Repetition penalty',
  you: 'You',
  model: 'Model',
  generating: 'Answering…',
  cancelled: 'Stopped',
  failed: 'Failed: {error}',
  stats: '{tokens} tokens · {seconds} s',
  delete: 'Delete chat',
  baseModel: 'base model',
  run: 'run #{id}',
};
type Strings = typeof en;

const tr: Strings = {
  sessions: 'Sohbetler',
  newChat: 'Yeni sohbet',
  pickRun: 'Eğitilmiş model',
  pickModel: 'ya da temel model (adaptörsüz)',
  none: 'Yok',
  create: 'Sohbeti başlat',
  noTrained: 'Henüz tamamlanmış eğitim yok: Yeni eğitim sayfasında bir tane eğitin ya da temel modelle sohbet edin.',
  noSession: 'Soldan bir sohbet seçin ya da yenisini başlatın.',
  placeholder: 'Hukuki bir soru sorun…',
  send: 'Gönder',
  stop: 'Durdur',
  settings: 'Üretim ayarları',
  mode: 'Kod çözme',
  greedy: 'Açgözlü (greedy)',
  beam: 'Işın araması (beam)',
  sampling: 'Örnekleme',
  maxNewTokens: 'En çok yeni token',
  numBeams: 'Işın sayısı',
  temperature: 'Sıcaklık',
  topP: 'Top-p',
  topK: 'Top-k',
  repetitionPenalty: 'Tekrar cezası',
  you: 'Siz',
  model: 'Model',
  generating: 'Cevaplanıyor…',
  cancelled: 'Durduruldu',
  failed: 'Başarısız: {error}',
  stats: '{tokens} token · {seconds} sn',
  delete: 'Sohbeti sil',
  baseModel: 'temel model',
  run: 'eğitim #{id}',
};

export function chatStrings(language: Language): Strings {
  return language === 'tr' ? tr : en;
}

export function fill(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in values ? String(values[k]) : m));
}
