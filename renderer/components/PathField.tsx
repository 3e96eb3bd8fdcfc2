// A path text field with a Browse… button where the front end can open a file dialog (the
// Electron app). In the browser UI (`hukuk serve`) the server cannot show a dialog to the
// person at the browser, so only the text field is shown.
import { useEffect, useState } from 'react';
import { Button, Stack, TextField } from '@mui/material';
import FolderOpenIcon from '@mui/icons-material/FolderOpen';
import { api } from '../state/api';
import { useT } from '../i18n';

let canPickCache: Promise<boolean> | undefined;
function canPickPaths(): Promise<boolean> {
  canPickCache ??= api.system.capabilities({}).then((r) => r.ok && r.value.canPickPaths, () => false);
  return canPickCache;
}

export interface PathFieldProps {
  label: string;
  value: string;
  onChange: (path: string) => void;
  kind: 'file' | 'folder';
  filters?: { name: string; extensions: string[] }[];
  testId: string;
  autoFocus?: boolean;
}

export function PathField({ label, value, onChange, kind, filters, testId, autoFocus }: PathFieldProps) {
  const t = useT();
  const [canPick, setCanPick] = useState(false);
  useEffect(() => {
    let live = true;
    void canPickPaths().then((v) => live && setCanPick(v));
    return () => {
      live = false;
    };
  }, []);
  const browse = async () => {
    const r = await api.system.pickPath({ kind, title: label, ...(filters ? { filters } : {}) });
    if (r.ok && r.value.path) onChange(r.value.path);
  };
  return (
    <Stack direction="row" spacing={1} alignItems="center">
      <TextField
        label={label}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        autoFocus={autoFocus}
        fullWidth
        slotProps={{ htmlInput: { 'data-testid': testId, spellCheck: false } }}
      />
      {canPick && (
        <Button variant="outlined" startIcon={<FolderOpenIcon />} onClick={() => void browse()} data-testid={`${testId}-browse`} sx={{ flexShrink: 0 }}>
          {t('common.browse')}
        </Button>
      )}
    </Stack>
  );
}
