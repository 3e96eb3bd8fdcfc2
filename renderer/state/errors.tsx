// Errors from a Result are shown in one snackbar: the message for the person, the code and
// details behind an expander (for a bug report). Several errors queue up, newest last.
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { Alert, AlertTitle, Box, Button, Collapse, Snackbar, Typography } from '@mui/material';
import type { AppErrorValue } from '../../common/contract/errors';
import { useT } from '../i18n';
import { monoFonts } from '../theme';

type Report = (error: AppErrorValue) => void;
type Notify = (message: string) => void;
type Notice = { kind: 'error'; error: AppErrorValue; seq: number } | { kind: 'success'; message: string; seq: number };
let nextSeq = 1;
const ReportContext = createContext<{ report: Report; notify: Notify } | null>(null);

export function ErrorReporterProvider({ children }: { children: ReactNode }) {
  const [queue, setQueue] = useState<Notice[]>([]);
  const report = useCallback<Report>((error) => setQueue((q) => [...q, { kind: 'error', error, seq: nextSeq++ }]), []);
  const notify = useCallback<Notify>((message) => setQueue((q) => [...q, { kind: 'success', message, seq: nextSeq++ }]), []);
  const dismiss = useCallback(() => setQueue((q) => q.slice(1)), []);
  const value = useMemo(() => ({ report, notify }), [report, notify]);
  const current = queue[0];
  return (
    <ReportContext.Provider value={value}>
      {children}
      {/* key: each notice gets a fresh (collapsed) snackbar */}
      {current?.kind === 'error' && <ErrorSnackbar key={current.seq} error={current.error} onClose={dismiss} />}
      {current?.kind === 'success' && <SuccessSnackbar key={current.seq} message={current.message} onClose={dismiss} />}
    </ReportContext.Provider>
  );
}

/** Shows an error from a Result in the snackbar (message, with code and details behind an expander). */
export function useReportError(): Report {
  const r = useContext(ReportContext);
  if (!r) throw new Error('useReportError outside ErrorReporterProvider');
  return r.report;
}

/** Shows a short confirmation ("Run started") in the snackbar. */
export function useNotify(): Notify {
  const r = useContext(ReportContext);
  if (!r) throw new Error('useNotify outside ErrorReporterProvider');
  return r.notify;
}

function SuccessSnackbar({ message, onClose }: { message: string; onClose: () => void }) {
  const [open, setOpen] = useState(true);
  return (
    <Snackbar
      open={open}
      autoHideDuration={4000}
      onClose={(_, reason) => reason !== 'clickaway' && setOpen(false)}
      slotProps={{ transition: { onExited: onClose } }}
      anchorOrigin={{ vertical: 'bottom', horizontal: 'center' }}
      data-testid="success-snackbar"
    >
      <Alert severity="success" variant="filled" onClose={() => setOpen(false)}>
        {message}
      </Alert>
    </Snackbar>
  );
}

function ErrorSnackbar({ error, onClose }: { error: AppErrorValue; onClose: () => void }) {
  const t = useT();
  const [open, setOpen] = useState(true);
  const [showDetails, setShowDetails] = useState(false);
  const close = (_?: unknown, reason?: string) => {
    if (reason === 'clickaway') return;
    setOpen(false);
  };
  return (
    <Snackbar
      open={open}
      onClose={close}
      slotProps={{ transition: { onExited: onClose } }}
      anchorOrigin={{ vertical: 'bottom', horizontal: 'center' }}
      data-testid="error-snackbar"
    >
      <Alert
        severity="error"
        variant="filled"
        onClose={close}
        sx={{ maxWidth: 640, width: '100%', alignItems: 'flex-start' }}
        action={
          error.details ? (
            <Button color="inherit" size="small" onClick={() => setShowDetails((s) => !s)} sx={{ whiteSpace: 'nowrap' }}>
              {showDetails ? t('error.hideDetails') : t('error.details')}
            </Button>
          ) : undefined
        }
      >
        <AlertTitle data-testid="error-message" sx={{ mb: 0 }}>
          {error.message}
        </AlertTitle>
        <Collapse in={showDetails} unmountOnExit>
          <Box sx={{ mt: 1 }}>
            <Typography variant="caption" component="div" sx={{ opacity: 0.85 }}>
              {t('error.code', { code: error.code })}
            </Typography>
            <Box
              component="pre"
              data-testid="error-details"
              sx={{ m: 0, mt: 0.5, maxHeight: 220, overflow: 'auto', fontFamily: monoFonts, fontSize: 12, whiteSpace: 'pre-wrap', wordBreak: 'break-word' }}
            >
              {error.details}
            </Box>
          </Box>
        </Collapse>
      </Alert>
    </Snackbar>
  );
}

