// System: what this computer offers for training (CPU, memory, NVIDIA GPUs) and the versions
// of the app and its engine, from system:info. Values carry data-testids for the e2e tests.
import type { ReactNode } from 'react';
import { Alert, AlertTitle, Box, Button, Chip, Paper, Skeleton, Stack, Typography } from '@mui/material';
import CheckCircleOutlineIcon from '@mui/icons-material/CheckCircleOutline';
import DeveloperBoardOutlinedIcon from '@mui/icons-material/DeveloperBoardOutlined';
import ErrorOutlineIcon from '@mui/icons-material/ErrorOutline';
import RefreshIcon from '@mui/icons-material/Refresh';
import RemoveCircleOutlineIcon from '@mui/icons-material/RemoveCircleOutline';
import type { SystemInfo } from '../../../common/contract/system';
import { useI18n, type Language, type Translate } from '../../i18n';
import { api } from '../../state/api';
import { useQuery } from '../../state/use-query';
import { PageHeader } from '../../components/PageHeader';
import { formatBytes, formatNumber } from '../../components/format';
import { monoFonts } from '../../theme';

const platformNames: Record<string, string> = { linux: 'Linux', win32: 'Windows', darwin: 'macOS', freebsd: 'FreeBSD' };

export function SystemPage() {
  const { t, language } = useI18n();
  const info = useQuery(() => api.system.info({}));
  return (
    <>
      <PageHeader
        route="system"
        title={t('system.title')}
        subtitle={t('system.subtitle')}
        actions={
          <Button variant="outlined" startIcon={<RefreshIcon />} onClick={info.reload} disabled={info.status === 'loading'} data-testid="system-refresh">
            {t('common.refresh')}
          </Button>
        }
      />
      {info.status === 'loading' && <Loading />}
      {info.status === 'error' && (
        <Alert
          severity="error"
          data-testid="system-error"
          action={
            <Button color="inherit" size="small" onClick={info.reload}>
              {t('error.retry')}
            </Button>
          }
        >
          <AlertTitle>{t('system.loadFailed')}</AlertTitle>
          {info.error.message}
        </Alert>
      )}
      {info.status === 'ok' && <SystemDetails info={info.value} t={t} language={language} />}
    </>
  );
}

function SystemDetails({ info, t, language }: { info: SystemInfo; t: Translate; language: Language }) {
  const os = `${platformNames[info.os.platform] ?? info.os.platform} ${info.os.release} (${info.os.arch})`;
  return (
    <Stack spacing={3} data-testid="system-info">
      <Box sx={{ display: 'grid', gap: 3, gridTemplateColumns: { xs: '1fr', md: 'repeat(3, 1fr)' } }}>
        <Section title={t('system.app')}>
          <Fact label={t('system.appVersion')} testId="system-app-version" mono>
            {info.appVersion}
          </Fact>
          <Fact label={t('system.node')} testId="system-node-version" mono>
            {info.node}
          </Fact>
          <Fact label={t('system.electron')} testId="system-electron" mono={!!info.electron} muted={!info.electron}>
            {info.electron ?? t('system.electronNone')}
          </Fact>
        </Section>

        <Section title={t('system.engine')}>
          {info.addonVersion !== null ? (
            <Fact label={t('system.addonVersion')} testId="system-addon-version" mono>
              {info.addonVersion}
            </Fact>
          ) : (
            <Alert severity="error" icon={<ErrorOutlineIcon />} sx={{ mb: 2 }} data-testid="system-addon-error">
              <AlertTitle>{t('system.addonError')}</AlertTitle>
              <Box component="span" sx={{ fontFamily: monoFonts, fontSize: 12, wordBreak: 'break-word' }}>
                {info.addonError ?? ''}
              </Box>
            </Alert>
          )}
          <Fact label={t('system.cudaCompiled')}>
            <Chip
              size="small"
              variant="outlined"
              color={info.cudaCompiled ? 'success' : 'default'}
              icon={info.cudaCompiled ? <CheckCircleOutlineIcon /> : <RemoveCircleOutlineIcon />}
              label={info.cudaCompiled ? t('common.yes') : t('common.no')}
              data-testid="system-cuda-compiled"
              data-value={String(info.cudaCompiled)}
            />
          </Fact>
          {info.addonModules && info.addonModules.length > 0 && (
            <Fact label={t('system.addonModules')}>
              <Stack direction="row" useFlexGap spacing={0.5} sx={{ flexWrap: 'wrap', mt: 0.5 }} data-testid="system-addon-modules">
                {info.addonModules.map((m) => (
                  <Chip key={m} size="small" label={m} sx={{ fontFamily: monoFonts, fontSize: 12 }} />
                ))}
              </Stack>
            </Fact>
          )}
        </Section>

        <Section title={t('system.machine')}>
          <Fact label={t('system.os')} testId="system-os">
            {os}
          </Fact>
          <Fact label={t('system.cpu')} testId="system-cpu-model">
            {info.cpu.model}
          </Fact>
          <Fact label={t('system.cores')} testId="system-cpu-cores" value={String(info.cpu.cores)}>
            {formatNumber(info.cpu.cores, language)}
          </Fact>
          <Fact label={t('system.ram')} testId="system-ram" value={String(info.ramBytes)}>
            {formatBytes(info.ramBytes, language)}
          </Fact>
        </Section>
      </Box>

      <Section title={t('system.gpus')}>
        {info.gpus.length === 0 ? (
          <Alert severity="info" data-testid="system-no-gpu">
            {t('system.noGpu')}
          </Alert>
        ) : (
          <Stack spacing={1.5} data-testid="system-gpus">
            {info.gpus.map((g, i) => (
              <Paper key={i} variant="outlined" sx={{ p: 2, display: 'flex', gap: 2, alignItems: 'center', flexWrap: 'wrap' }} data-testid="system-gpu">
                <DeveloperBoardOutlinedIcon color="primary" aria-hidden />
                <Typography sx={{ fontWeight: 650, flex: '1 1 220px' }} data-testid="system-gpu-name">
                  {g.name}
                </Typography>
                <Inline label={t('system.gpuMemory')} testId="system-gpu-memory">
                  {formatBytes(g.memoryBytes, language)}
                </Inline>
                <Inline label={t('system.gpuDriver')} testId="system-gpu-driver">
                  {g.driver}
                </Inline>
                <Inline label={t('system.gpuCompute')} testId="system-gpu-compute">
                  {g.computeCapability}
                </Inline>
              </Paper>
            ))}
          </Stack>
        )}
      </Section>

      <Section title={t('settings.dataDir')}>
        <Box component="code" data-testid="system-data-dir" sx={{ fontFamily: monoFonts, fontSize: 13, wordBreak: 'break-all' }}>
          {info.dataDir}
        </Box>
      </Section>
    </Stack>
  );
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Paper variant="outlined" sx={{ p: 2.5 }} component="section" aria-label={title}>
      <Typography variant="overline" color="text.secondary" component="h2" sx={{ display: 'block', mb: 1.5, letterSpacing: '0.08em', lineHeight: 1.5 }}>
        {title}
      </Typography>
      {children}
    </Paper>
  );
}

/** One labelled value. `value` is the raw machine value (data-value) when the shown text is formatted. */
function Fact({ label, children, testId, mono, muted, value }: { label: string; children: ReactNode; testId?: string; mono?: boolean; muted?: boolean; value?: string }) {
  return (
    <Box sx={{ mb: 1.5, '&:last-child': { mb: 0 } }}>
      <Typography variant="caption" color="text.secondary" component="div">
        {label}
      </Typography>
      <Typography
        variant="body2"
        component="div"
        data-testid={testId}
        data-value={value}
        color={muted ? 'text.secondary' : undefined}
        sx={{ fontWeight: muted ? 400 : 550, wordBreak: 'break-word', ...(mono ? { fontFamily: monoFonts, fontSize: 13 } : {}) }}
      >
        {children}
      </Typography>
    </Box>
  );
}

function Inline({ label, children, testId }: { label: string; children: ReactNode; testId: string }) {
  return (
    <Box>
      <Typography variant="caption" color="text.secondary" component="div">
        {label}
      </Typography>
      <Typography variant="body2" component="div" data-testid={testId} sx={{ fontWeight: 550 }}>
        {children}
      </Typography>
    </Box>
  );
}

function Loading() {
  return (
    <Box data-testid="system-loading" sx={{ display: 'grid', gap: 3, gridTemplateColumns: { xs: '1fr', md: 'repeat(3, 1fr)' } }}>
      {[0, 1, 2].map((i) => (
        <Skeleton key={i} variant="rounded" height={180} />
      ))}
    </Box>
  );
}
