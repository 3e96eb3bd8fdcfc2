// Loads the engine addon. Order: $HUKUK_ADDON, then native/build/ next to this file
// (development, CLI), then the unpacked copy beside an Electron asar archive.
// The test hooks (exports named '_...': _ops*, _decodeLogits, _adamwTest, ...) are present only
// when HUKUK_ENGINE_TEST_HOOKS=1 is in the environment as the addon loads (the first loadEngine()
// of a process): vitest.config.ts sets it for the tests, bench and tools scripts set it
// themselves; the app never does (native/src/core/registry.h).
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

function candidates() {
  const list = [];
  if (process.env.HUKUK_ADDON) list.push(process.env.HUKUK_ADDON);
  list.push(join(__dirname, 'build', 'hukuk_engine.node'));
  list.push(join(__dirname, 'build', 'hukuk_engine.node').replace(`app.asar${require('node:path').sep}`, `app.asar.unpacked${require('node:path').sep}`));
  return list;
}

function loadEngine() {
  const tried = [];
  for (const p of candidates()) {
    if (!existsSync(p)) { tried.push(`${p} (missing)`); continue; }
    return require(p);
  }
  const err = new Error(`The engine addon is not built. Run \`npm run build:native\`. Looked in: ${tried.join(', ')}`);
  err.code = 'ENGINE_NOT_BUILT';
  throw err;
}

module.exports = { loadEngine };
