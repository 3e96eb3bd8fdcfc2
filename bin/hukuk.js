#!/usr/bin/env node
// The `hukuk` command: the same services as the app, without Electron.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const entry = join(__dirname, '..', 'out', 'cli', 'hukuk.cjs');
if (!existsSync(entry)) {
  console.error('hukuk: the app is not built yet. Run `npm run build` (npm install does it) first.');
  process.exit(1);
}
require(entry).main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code ?? 0; },
  (e) => { console.error(e && e.stack ? e.stack : String(e)); process.exitCode = 1; },
);
