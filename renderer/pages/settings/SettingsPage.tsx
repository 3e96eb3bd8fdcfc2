// Settings kept in this browser/window: theme and language. The data folder is shown from
// system:info (it is chosen with --data-dir or by the OS, not here).
import type { ReactNode } from 'react';
import { Box, FormControl, FormHelperText, FormLabel, MenuItem, Paper, Select, Stack, ToggleButton, ToggleButtonGroup, Typography } from '@mui/material';
import BrightnessAutoOutlinedIcon from '@mui/icons-material/BrightnessAutoOutlined';
import DarkModeOutlinedIcon from '@mui/icons-material/DarkModeOutlined';
import LightModeOutlinedIcon from '@mui/icons-material/LightModeOutlined';
import { languageNames, languages, useI18n, type Language } from '../../i18n';
import { useThemeChoice, monoFonts, type ThemeChoice } from '../../theme';
import { api } from '../../state/api';
import { useQuery } from '../../state/use-query';
import { PageHeader } from '../../components/PageHeader';

export function SettingsPage() {
  const { t, language, setLanguage } = useI18n();
  const { choice, setChoice } = useThemeChoice();
  // Not reported in the snackbar: the System page is where a failing system:info is shown.
  const info = useQuery(() => api.system.info({}), { report: false });

  return (
    <>
      <PageHeader route="settings" title={t('settings.title')} subtitle={t('settings.subtitle')} />
      <Stack spacing={3}>
        <Section title={t('settings.appearance')}>
          <Stack spacing={3}>
            <FormControl>
              <FormLabel id="settings-theme-label" sx={{ mb: 1 }}>
                {t('settings.theme')}
              </FormLabel>
              <ToggleButtonGroup
                exclusive
                value={choice}
                onChange={(_, v: ThemeChoice | null) => v && setChoice(v)}
                aria-labelledby="settings-theme-label"
                data-testid="settings-theme"
                size="small"
              >
                <ToggleButton value="system" data-testid="settings-theme-system">
                  <BrightnessAutoOutlinedIcon fontSize="small" sx={{ mr: 1 }} />
                  {t('settings.themeSystem')}
                </ToggleButton>
                <ToggleButton value="light" data-testid="settings-theme-light">
                  <LightModeOutlinedIcon fontSize="small" sx={{ mr: 1 }} />
                  {t('settings.themeLight')}
                </ToggleButton>
                <ToggleButton value="dark" data-testid="settings-theme-dark">
                  <DarkModeOutlinedIcon fontSize="small" sx={{ mr: 1 }} />
                  {t('settings.themeDark')}
                </ToggleButton>
              </ToggleButtonGroup>
            </FormControl>
            <FormControl sx={{ maxWidth: 320 }}>
              <FormLabel id="settings-language-label" sx={{ mb: 1 }}>
                {t('settings.language')}
              </FormLabel>
              <Select
                size="small"
                value={language}
                onChange={(e) => setLanguage(e.target.value as Language)}
                inputProps={{ 'aria-labelledby': 'settings-language-label' }}
                data-testid="settings-language"
              >
                {languages.map((l) => (
                  <MenuItem key={l} value={l} data-testid={`settings-language-${l}`} lang={l}>
                    {languageNames[l]}
                  </MenuItem>
                ))}
              </Select>
              <FormHelperText sx={{ mx: 0 }}>{t('settings.languageHelp')}</FormHelperText>
            </FormControl>
          </Stack>
        </Section>
        <Section title={t('settings.storage')}>
          <Typography variant="body2" sx={{ fontWeight: 600 }}>
            {t('settings.dataDir')}
          </Typography>
          <Box component="code" data-testid="settings-data-dir" sx={{ display: 'block', fontFamily: monoFonts, fontSize: 13, my: 0.5, wordBreak: 'break-all' }}>
            {info.status === 'ok' ? info.value.dataDir : info.status === 'loading' ? t('common.loading') : '—'}
          </Box>
          <Typography variant="caption" color="text.secondary">
            {t('settings.dataDirHelp')}
          </Typography>
        </Section>
      </Stack>
    </>
  );
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Paper variant="outlined" sx={{ p: 3 }}>
      <Typography variant="h2" component="h2" sx={{ mb: 2 }}>
        {title}
      </Typography>
      {children}
    </Paper>
  );
}
