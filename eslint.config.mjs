// Layering by where code runs, checked here (VS Code style):
//   common/   imports neither node nor electron (runs everywhere)
//   renderer/ imports no node, no electron, nothing from main/ or worker/
//   preload/  may import electron and common/, nothing from main/ or renderer/
//   main/     may not import renderer/ or preload/
//   worker/   may not import electron, renderer/ or main/ (it is a separate process)
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import reactHooks from 'eslint-plugin-react-hooks';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
const noImport = (names, patterns, why) => ({
  'no-restricted-imports': [
    'error',
    {
      paths: names.map((name) => ({ name, message: why })),
      patterns: patterns.length ? [{ group: patterns, message: why }] : [],
    },
  ],
});

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', 'native/build/**', '.device/**', 'docs/**', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'warn',
    },
  },
  {
    files: ['bin/**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['common/**/*.ts'],
    rules: noImport([...nodeBuiltins, 'electron'], ['**/main/**', '**/renderer/**', '**/worker/**', '**/preload/**'],
      'common/ runs in every process: no node, no electron, no process-specific code.'),
  },
  {
    files: ['renderer/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      ...noImport([...nodeBuiltins, 'electron', 'better-sqlite3'], ['**/main/**', '**/worker/**', '**/preload/**', '**/native/**'],
        'renderer/ runs in a sandboxed page: it reaches main only through the contract API.'),
    },
  },
  {
    files: ['preload/**/*.ts'],
    rules: noImport([], ['**/main/**', '**/renderer/**', '**/worker/**'], 'preload/ exposes the contract API only.'),
  },
  {
    files: ['main/**/*.ts'],
    rules: noImport([], ['**/renderer/**', '**/preload/**'], 'main/ must not import UI code.'),
  },
  {
    files: ['worker/**/*.ts'],
    rules: noImport(['electron', 'better-sqlite3'], ['**/renderer/**', '**/main/**', '**/preload/**'],
      'worker/ is the engine process: it never touches SQLite or Electron; it reports to main.'),
  },
);
