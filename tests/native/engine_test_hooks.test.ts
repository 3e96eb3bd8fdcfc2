// The addon's test hooks (exports named '_...': _ops*, _decodeLogits, _adamwTest, ...) exist only
// when HUKUK_ENGINE_TEST_HOOKS=1 is set as it loads (native/src/core/registry.h, addon.cpp), so
// the app's addon does not carry them. A fresh node process per case: an addon is loaded once per
// process, so the variable cannot be changed under one that has loaded it.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const INDEX = resolve(__dirname, '../../native/index.cjs');
const require = createRequire(import.meta.url);

interface Exports {
  hooks: string[];
  others: string[];
  modules: string[];
}

// The export names of the addon loaded in a child process with `hooks` as HUKUK_ENGINE_TEST_HOOKS
// (undefined = not set at all).
function exportsWith(hooks: string | undefined): Exports {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.HUKUK_ENGINE_TEST_HOOKS;
  if (hooks !== undefined) env.HUKUK_ENGINE_TEST_HOOKS = hooks;
  const script = `const e = require(${JSON.stringify(INDEX)}).loadEngine();
const names = Object.keys(e);
process.stdout.write(JSON.stringify({ hooks: names.filter((n) => n.startsWith('_')), others: names.filter((n) => !n.startsWith('_')), modules: e.modules }));`;
  const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8', timeout: 60_000 });
  expect(r.status, `child failed: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as Exports;
}

// hooks of modules every build has (native/src/{ops,train,generate}), when those modules are built
const EXPECTED: [module: string, hook: string][] = [
  ['ops', '_opsGemm'],
  ['train', '_adamwTest'],
  ['generate', '_decodeLogits'],
  ['generate_toy', '_generateToy'],
];

describe('engine test hooks', () => {
  it('are absent without HUKUK_ENGINE_TEST_HOOKS, or with a value other than 1', () => {
    const on = exportsWith('1');
    for (const value of [undefined, '0', '', 'true']) {
      const off = exportsWith(value);
      expect(off.hooks, `HUKUK_ENGINE_TEST_HOOKS=${value ?? '(unset)'}`).toEqual([]);
      // everything else is still there
      expect(off.others.sort()).toEqual(on.others.sort());
      expect(off.modules).toEqual(on.modules);
    }
  });

  it('are present with HUKUK_ENGINE_TEST_HOOKS=1', () => {
    const on = exportsWith('1');
    const expected = EXPECTED.filter(([m]) => on.modules.includes(m)).map(([, h]) => h);
    expect(expected.length, `modules built: ${on.modules.join(', ')}`).toBeGreaterThan(0);
    for (const h of expected) expect(on.hooks).toContain(h);
  });

  it('this test run has them: vitest.config.ts sets the variable for every test', () => {
    expect(process.env.HUKUK_ENGINE_TEST_HOOKS).toBe('1');
    const engine = require(INDEX).loadEngine() as Record<string, unknown>;
    expect(Object.keys(engine).filter((n) => n.startsWith('_')).length).toBeGreaterThan(0);
  });
});
