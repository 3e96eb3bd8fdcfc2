// Light and dark themes. The user's choice ('system' | 'light' | 'dark') is kept in
// localStorage; 'system' follows prefers-color-scheme live. The resolved mode is also put on
// <html data-theme> so tests and plain CSS can see it.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { CssBaseline, ThemeProvider, createTheme, useMediaQuery, type PaletteMode } from '@mui/material';
import { safeGet, safeSet } from '../i18n';

export type ThemeChoice = 'system' | PaletteMode;
const storageKey = 'hukuk.theme';

// Offline app: no web fonts, the platform's own UI font.
const systemFonts = [
  'system-ui',
  '-apple-system',
  '"Segoe UI"',
  'Roboto',
  'Ubuntu',
  'Cantarell',
  '"Noto Sans"',
  '"Helvetica Neue"',
  'Arial',
  'sans-serif',
].join(',');
export const monoFonts = ['ui-monospace', '"SF Mono"', '"Cascadia Mono"', '"DejaVu Sans Mono"', 'Menlo', 'Consolas', 'monospace'].join(',');

export function createAppTheme(mode: PaletteMode) {
  const dark = mode === 'dark';
  return createTheme({
    palette: {
      mode,
      // A deep legal blue with a brass accent; readable in both modes.
      primary: { main: dark ? '#8fb4ff' : '#1f4fa3' },
      secondary: { main: dark ? '#e2c07a' : '#8a6a1f' },
      background: dark ? { default: '#0f1318', paper: '#161b22' } : { default: '#f5f6f8', paper: '#ffffff' },
      divider: dark ? 'rgba(255,255,255,0.09)' : 'rgba(15,23,42,0.10)',
    },
    shape: { borderRadius: 10 },
    typography: {
      fontFamily: systemFonts,
      h1: { fontSize: '1.6rem', fontWeight: 650, letterSpacing: '-0.01em' },
      h2: { fontSize: '1.1rem', fontWeight: 620 },
      h3: { fontSize: '1rem', fontWeight: 600 },
      button: { textTransform: 'none', fontWeight: 600 },
    },
    components: {
      MuiAppBar: { defaultProps: { elevation: 0, color: 'inherit' } },
      MuiPaper: { defaultProps: { elevation: 0 } },
      MuiCard: { defaultProps: { variant: 'outlined' } },
      MuiTooltip: { defaultProps: { arrow: true } },
      MuiListItemButton: {
        styleOverrides: { root: { borderRadius: 8, marginInline: 8, paddingBlock: 6 } },
      },
    },
  });
}

interface ThemeChoiceValue {
  choice: ThemeChoice;
  mode: PaletteMode;
  setChoice: (choice: ThemeChoice) => void;
  toggle: () => void;
}

const ThemeChoiceContext = createContext<ThemeChoiceValue | null>(null);

function savedChoice(): ThemeChoice {
  const v = safeGet(storageKey);
  return v === 'light' || v === 'dark' || v === 'system' ? v : 'system';
}

export function AppThemeProvider({ children }: { children: ReactNode }) {
  const prefersDark = useMediaQuery('(prefers-color-scheme: dark)', { noSsr: true });
  const [choice, setChoiceState] = useState<ThemeChoice>(savedChoice);
  const mode: PaletteMode = choice === 'system' ? (prefersDark ? 'dark' : 'light') : choice;
  const setChoice = useCallback((c: ThemeChoice) => {
    safeSet(storageKey, c);
    setChoiceState(c);
  }, []);
  const toggle = useCallback(() => setChoice(mode === 'dark' ? 'light' : 'dark'), [mode, setChoice]);
  const theme = useMemo(() => createAppTheme(mode), [mode]);
  useEffect(() => {
    document.documentElement.dataset.theme = mode;
    document.documentElement.style.colorScheme = mode;
  }, [mode]);
  const value = useMemo(() => ({ choice, mode, setChoice, toggle }), [choice, mode, setChoice, toggle]);
  return (
    <ThemeChoiceContext.Provider value={value}>
      <ThemeProvider theme={theme}>
        <CssBaseline enableColorScheme />
        {children}
      </ThemeProvider>
    </ThemeChoiceContext.Provider>
  );
}

export function useThemeChoice(): ThemeChoiceValue {
  const v = useContext(ThemeChoiceContext);
  if (!v) throw new Error('useThemeChoice outside AppThemeProvider');
  return v;
}
