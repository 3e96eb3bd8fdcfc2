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
// `hukuk … | head` closes the pipe early: that is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e && e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}
require(entry).main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code ?? 0; },
  (e) => { console.error(e && e.stack ? e.stack : String(e)); process.exitCode = 1; },
);
