// A small typed i18n layer: t('nav.models') with keys checked by the compiler, `{name}`
// placeholders, Turkish by default when the browser/OS language is Turkish, the choice
// remembered in localStorage.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { en, type MessageKey, type Messages } from './en';
import { tr } from './tr';

export type Language = 'tr' | 'en';
export const languages: readonly Language[] = ['tr', 'en'];
export const languageNames: Record<Language, string> = { tr: 'Türkçe', en: 'English' };
const dictionaries: Record<Language, Messages> = { tr, en };
const storageKey = 'hukuk.language';

export type Translate = (key: MessageKey, values?: Record<string, string | number>) => string;

export function defaultLanguage(): Language {
  const saved = safeGet(storageKey);
  if (saved === 'tr' || saved === 'en') return saved;
  return navigator.language.toLowerCase().startsWith('tr') ? 'tr' : 'en';
}

export function format(template: string, values?: Record<string, string | number>): string {
  if (!values) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}

interface I18nValue {
  language: Language;
  setLanguage: (language: Language) => void;
  t: Translate;
}

const I18nContext = createContext<I18nValue | null>(null);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [language, setLanguageState] = useState<Language>(defaultLanguage);
  const setLanguage = useCallback((l: Language) => {
    safeSet(storageKey, l);
    setLanguageState(l);
  }, []);
  useEffect(() => {
    document.documentElement.lang = language;
  }, [language]);
  const value = useMemo<I18nValue>(() => {
    const dict = dictionaries[language];
    return { language, setLanguage, t: (key, values) => format(dict[key], values) };
  }, [language, setLanguage]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18nValue {
  const v = useContext(I18nContext);
  if (!v) throw new Error('useI18n outside I18nProvider');
  return v;
}

/** The translate function of the current language. */
export function useT(): Translate {
  return useI18n().t;
}

// localStorage can throw (disabled storage, sandboxed frames): settings then last for the session only.
export function safeGet(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}
export function safeSet(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* not persisted; the choice still applies until the window closes */
  }
}
