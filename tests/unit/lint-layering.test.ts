// The process layering (common / main / preload / renderer / worker) is enforced by eslint.
// These cases prove the rules bite: each forbidden import must be reported, each allowed one not.
import { describe, expect, it } from 'vitest';
import { ESLint } from 'eslint';
import { resolve } from 'node:path';

const root = resolve(__dirname, '../..');
const eslint = new ESLint({ cwd: root });

async function restricted(file: string, code: string): Promise<string[]> {
  const [res] = await eslint.lintText(code, { filePath: resolve(root, file) });
  return res.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layering lint', () => {
  it.each([
    ['renderer/pages/x.tsx', "import { readFileSync } from 'node:fs'; export const a = readFileSync;"],
    ['renderer/pages/x.tsx', "import { ipcRenderer } from 'electron'; export const a = ipcRenderer;"],
    ['renderer/pages/x.tsx', "import { dispatch } from '../../main/ipc/dispatch'; export const a = dispatch;"],
    ['common/x.ts', "import os from 'node:os'; export const a = os;"],
    ['common/x.ts', "import { app } from 'electron'; export const a = app;"],
    ['main/x.ts', "import { App } from '../renderer/App'; export const a = App;"],
    ['worker/x.ts', "import Database from 'better-sqlite3'; export const a = Database;"],
    ['worker/x.ts', "import { openDatabase } from '../main/store/db'; export const a = openDatabase;"],
    ['preload/x.ts', "import { dispatch } from '../main/ipc/dispatch'; export const a = dispatch;"],
  ])('%s may not: %s', async (file, code) => {
    expect(await restricted(file, code)).not.toHaveLength(0);
  });

  it.each([
    ['renderer/pages/x.tsx', "import { channels } from '../../common/contract/channels'; export const a = channels;"],
    ['main/x.ts', "import { readFileSync } from 'node:fs'; export const a = readFileSync;"],
    ['worker/x.ts', "import { readFileSync } from 'node:fs'; export const a = readFileSync;"],
    ['preload/x.ts', "import { contextBridge } from 'electron'; export const a = contextBridge;"],
  ])('%s may: %s', async (file, code) => {
    expect(await restricted(file, code)).toHaveLength(0);
  });
});
