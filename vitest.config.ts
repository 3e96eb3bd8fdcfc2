import { defineConfig } from 'vitest/config';

// Unit, store, io and native (CPU) tests. The browser tests have their own config
// (tests/e2e/vitest.config.ts) because they need the built app and run one at a time.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    exclude: ['tests/e2e/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // the addon exports its test hooks (_ops*, _decodeLogits, _adamwTest, ...) only when this is
    // set as it loads (native/src/core/registry.h); child processes the tests spawn inherit it
    env: { HUKUK_ENGINE_TEST_HOOKS: '1' },
  },
});
