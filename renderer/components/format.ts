// Number formatting for people, in the UI language.
import type { Language } from '../i18n';

const locales: Record<Language, string> = { tr: 'tr-TR', en: 'en-US' };

/** 17179869184 -> "16 GiB" (binary units: what the OS and nvidia-smi show). */
export function formatBytes(bytes: number, language: Language): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = v >= 100 || i === 0 ? 0 : 1;
  return `${new Intl.NumberFormat(locales[language], { maximumFractionDigits: digits }).format(v)} ${units[i]}`;
}

export function formatNumber(n: number, language: Language): string {
  return new Intl.NumberFormat(locales[language]).format(n);
}
