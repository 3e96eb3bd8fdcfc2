import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { z } from 'zod';
import { App } from './App';
import { I18nProvider } from './i18n';
import { AppThemeProvider } from './theme';
import { ErrorReporterProvider } from './state/errors';

// The page's CSP forbids eval; tell zod (pulled in by the contract) not to probe for it.
z.config({ jitless: true });

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <I18nProvider>
      <AppThemeProvider>
        <ErrorReporterProvider>
          <App />
        </ErrorReporterProvider>
      </AppThemeProvider>
    </I18nProvider>
  </StrictMode>,
);
