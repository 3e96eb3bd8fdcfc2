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

/** A point in time (ms since epoch), e.g. "27 Kas 2026 21:40". */
export function formatDateTime(ms: number, language: Language): string {
  return new Intl.DateTimeFormat(locales[language], { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
}

/** 124_000_000 -> "124M" parameters. */
export function formatCount(n: number, language: Language): string {
  return new Intl.NumberFormat(locales[language], { notation: 'compact', maximumFractionDigits: 1 }).format(n);
}

/** A duration in ms as "1 h 05 min" / "3 min 20 s" / "12 s". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  if (m > 0) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${s} s`;
}
