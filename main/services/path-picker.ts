// A native "open" dialog, when the front end has one. The Electron app passes an
// implementation (main/app.ts: dialog.showOpenDialog on the main window); `hukuk serve` and
// the CLI pass none, because the dialog would open on the server, not in the person's browser.
import type { PickPathRequest } from '../../common/contract/system';

/** Resolves to the chosen path, or null when the dialog was closed without a choice. */
export type PathPicker = (req: PickPathRequest) => Promise<string | null>;

export const NO_PICKER_MESSAGE = 'Type the path: a browser cannot open a file dialog on the server.';
