// Where the app keeps its data when Electron does not say (CLI, server, tests). The same
// folder as Electron's app.getPath('userData') for productName 'Hukuk Studio', so the app
// and `hukuk` see one database.
import { homedir, platform } from 'node:os';
import { join } from 'node:path';

export function defaultDataDir(): string {
  const home = homedir();
  if (platform() === 'win32') return join(process.env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'Hukuk Studio');
  if (platform() === 'darwin') return join(home, 'Library', 'Application Support', 'Hukuk Studio');
  return join(process.env.XDG_CONFIG_HOME ?? join(home, '.config'), 'Hukuk Studio');
}
