// The store on a REAL database file in a temp folder (no mocks): migrations, repositories,
// refusal of a newer database, and a writer killed with SIGKILL mid-write.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, schemaVersion, type Db } from '../../main/store/db';
import { migrations } from '../../main/store/migrations';
import {
  addChatMessage,
  addCheckpoint,
  countMetrics,
  createChatSession,
  createRun,
  failUnfinishedRuns,
  getRun,
  insertDataset,
  insertMetrics,
  insertModel,
  listChatMessages,
  listCheckpoints,
  listDatasets,
  listMetrics,
  listModels,
  listRuns,
  updateRunStatus,
} from '../../main/store/repositories';
import { AppError } from '../../common/contract/errors';
import { bundleForNode, childEnv, tempDir } from './helpers';

let tmp: ReturnType<typeof tempDir>;
let db: Db | undefined;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => {
  db?.close();
  db = undefined;
  tmp.remove();
});

describe('migrations', () => {
  it('creates every table from an empty file, in WAL mode, with foreign keys on', () => {
    const file = join(tmp.dir, 'hukuk.db');
    db = openDatabase(file);
    expect(schemaVersion(db)).toBe(migrations.length);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[])
      .map((t) => t.name)
      .filter((n) => !n.startsWith('sqlite_'))
      .sort();
    expect(tables).toEqual(
      ['adapters', 'chat_messages', 'chat_sessions', 'checkpoints', 'datasets', 'evaluations', 'metrics', 'models', 'runs'].sort(),
    );
    db.close();
    // Reopening applies nothing twice.
    db = openDatabase(file);
    expect(schemaVersion(db)).toBe(migrations.length);
  });

  it('refuses a database written by a newer app, and leaves it untouched', () => {
    const file = join(tmp.dir, 'newer.db');
    const raw = new Database(file);
    raw.exec('CREATE TABLE future (x)');
    raw.pragma(`user_version = ${migrations.length + 1}`);
    raw.close();
    let caught: unknown;
    try {
      openDatabase(file);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(AppError);
    expect((caught as AppError).code).toBe('db_newer_than_app');
    expect((caught as AppError).message).toMatch(/newer version of Hukuk Studio/);
    const check = new Database(file);
    expect(check.pragma('user_version', { simple: true })).toBe(migrations.length + 1);
    expect(check.prepare("SELECT name FROM sqlite_master WHERE name = 'runs'").get()).toBeUndefined();
    check.close();
  });

  it('rolls a failing migration back completely', () => {
    const file = join(tmp.dir, 'broken.db');
    const broken = [
      ...migrations,
      { version: migrations.length + 1, name: 'broken', up: 'CREATE TABLE half_done (x); THIS IS NOT SQL;' },
    ];
    expect(() => openDatabase(file, { migrations: broken })).toThrow();
    db = openDatabase(file);
    expect(schemaVersion(db)).toBe(migrations.length);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'half_done'").get()).toBeUndefined();
  });
});

describe('repositories', () => {
  beforeEach(() => {
    db = openDatabase(join(tmp.dir, 'hukuk.db'));
  });

  it('creates, lists and moves runs through their statuses', () => {
    const a = createRun(db!, { name: 'first', config: { lr: 2e-4, loraR: 16 } });
    const b = createRun(db!, { name: 'second' });
    expect(a.status).toBe('queued');
    expect(a.config).toEqual({ lr: 2e-4, loraR: 16 });
    expect(listRuns(db!).map((r) => r.id)).toEqual([b.id, a.id]);

    expect(updateRunStatus(db!, a.id, 'running')).toBe(true);
    const running = getRun(db!, a.id);
    expect(running.status).toBe('running');
    expect(running.startedAt).not.toBeNull();
    expect(running.finishedAt).toBeNull();

    expect(updateRunStatus(db!, a.id, 'failed', 'The engine worker crashed')).toBe(true);
    const failed = getRun(db!, a.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toBe('The engine worker crashed');
    expect(failed.finishedAt).not.toBeNull();
    // A final status sticks: a late "completed" must not hide the failure.
    expect(updateRunStatus(db!, a.id, 'completed')).toBe(false);
    expect(getRun(db!, a.id).status).toBe('failed');

    expect(listRuns(db!, { status: 'queued' }).map((r) => r.id)).toEqual([b.id]);
    expect(() => getRun(db!, 9999)).toThrow(/does not exist/);
    expect(() => updateRunStatus(db!, 9999, 'running')).toThrow(/does not exist/);

    expect(failUnfinishedRuns(db!, 'the app stopped')).toBe(1);
    expect(getRun(db!, b.id)).toMatchObject({ status: 'failed', error: 'the app stopped' });
  });

  it('keeps the finite metrics of a batch that also carries NaN or null (JSON of NaN/Infinity)', () => {
    const run = createRun(db!, { name: 'nan' });
    const stored = insertMetrics(db!, run.id, [
      { step: 1, split: 'train', name: 'loss', value: 2.5 },
      { step: 1, split: 'train', name: 'grad_norm', value: Number.NaN },
      { step: 1, split: 'train', name: 'tokens_per_sec', value: null as unknown as number },
      { step: 1, split: 'train', name: 'lr', value: Number.POSITIVE_INFINITY },
    ]);
    expect(stored).toBe(2);
    expect(listMetrics(db!, run.id).map((p) => [p.name, p.value])).toEqual([
      ['loss', 2.5],
      ['lr', Number.POSITIVE_INFINITY],
    ]);
  });

  it('inserts metric batches in one transaction and reads them back in step order', () => {
    const run = createRun(db!, { name: 'm' });
    const batch = Array.from({ length: 1000 }, (_, i) => ({ step: i, split: 'train', name: 'loss', value: 10 - i / 100 }));
    insertMetrics(db!, run.id, batch);
    insertMetrics(db!, run.id, [{ step: 10, split: 'validation', name: 'loss', value: 3.5 }]);
    expect(countMetrics(db!, run.id)).toBe(1001);
    const after = listMetrics(db!, run.id, { afterStep: 997 });
    expect(after).toEqual([
      { step: 998, split: 'train', name: 'loss', value: 10 - 998 / 100 },
      { step: 999, split: 'train', name: 'loss', value: 10 - 999 / 100 },
    ]);
    // The same (split, name, step) again replaces the value instead of duplicating it.
    insertMetrics(db!, run.id, [{ step: 999, split: 'train', name: 'loss', value: 0.5 }]);
    expect(countMetrics(db!, run.id)).toBe(1001);
    expect(listMetrics(db!, run.id, { afterStep: 998 })[0].value).toBe(0.5);

    // A batch that fails (here: the run does not exist) commits nothing.
    expect(() =>
      insertMetrics(db!, 424242, [
        { step: 0, split: 'train', name: 'loss', value: 1 },
        { step: 1, split: 'train', name: 'loss', value: 1 },
      ]),
    ).toThrow(/FOREIGN KEY/);
    expect(countMetrics(db!, 424242)).toBe(0);
  });

  it('stores models, datasets, checkpoints and chats with their JSON fields', () => {
    const model = insertModel(db!, {
      name: 't5-efficient-base-turkish',
      sourcePath: '/home/u/t5',
      storedPath: '/data/models/1',
      architecture: 'T5ForConditionalGeneration',
      modelType: 't5',
      config: { d_model: 768, num_layers: 36 },
      paramCount: 222_903_552,
      vocabSize: 32_128,
      numLayers: 36,
      numDecoderLayers: 36,
      dModel: 768,
      dtype: 'float32',
      diskBytes: 2_480_000_000,
      contentHash: 'sha256:abc',
      copied: false,
    });
    expect(listModels(db!)).toEqual([model]);
    expect(model.copied).toBe(false);
    expect(model.config).toEqual({ d_model: 768, num_layers: 36 });

    const ds = insertDataset(db!, {
      name: 'turkish-law-chatbot',
      format: 'json',
      sourcePath: null,
      storedPath: '/data/datasets/1/test.json',
      contentHash: null,
      rowCount: 1500,
      trainRows: 1350,
      validationRows: 150,
      testRows: null,
      skippedRows: 0,
      columnMapping: { question: 'Soru', answer: 'Cevap' },
      template: { input: 'Soru: {question}', target: '{answer}' },
      stats: {},
      copied: true,
    });
    expect(listDatasets(db!)).toEqual([ds]);

    const run = createRun(db!, { name: 'r', modelId: model.id, datasetId: ds.id });
    addCheckpoint(db!, { runId: run.id, step: 100, path: '/x/step-100', metrics: { loss: 2 } });
    addCheckpoint(db!, { runId: run.id, step: 100, path: '/x/step-100b', metrics: { loss: 1.9 } });
    expect(listCheckpoints(db!, run.id).map((c) => [c.step, c.path])).toEqual([[100, '/x/step-100b']]);

    const chat = createChatSession(db!, { title: 'Kira', modelId: model.id });
    addChatMessage(db!, { sessionId: chat.id, role: 'user', content: 'Kira artışı ne kadar olabilir?' });
    addChatMessage(db!, { sessionId: chat.id, role: 'assistant', content: 'TÜFE oranında.', stats: { tokens: 5 } });
    expect(listChatMessages(db!, chat.id).map((m) => m.role)).toEqual(['user', 'assistant']);
  });
});

describe('a writer killed mid-write', () => {
  it('loses no committed row and leaves a sound file', async () => {
    const file = join(tmp.dir, 'crash.db');
    const script = await bundleForNode(join(__dirname, 'crash-writer.ts'), join(tmp.dir, 'crash-writer.cjs'));
    const child = spawn(process.execPath, [script, file], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const committed: { runId: number; rows: number }[] = [];
    let buffered = '';
    // Kill at an unpredictable point after at least 30 commits: usually inside a transaction.
    const killAfter = 30 + Math.floor(Math.random() * 30);
    const exit = new Promise<NodeJS.Signals | null>((resolveExit) => child.on('exit', (_c, sig) => resolveExit(sig)));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const l of lines) {
        const [, id, rows] = l.split(' ');
        committed.push({ runId: Number(id), rows: Number(rows) });
      }
      if (committed.length >= killAfter && !child.killed) child.kill('SIGKILL');
    });
    const signal = await exit;
    expect(stderr).toBe('');
    expect(signal).toBe('SIGKILL');
    expect(committed.length).toBeGreaterThanOrEqual(killAfter);
    expect(existsSync(file)).toBe(true);

    db = openDatabase(file);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    for (const c of committed) {
      expect(getRun(db, c.runId).name).toMatch(/^crash-/);
      expect(countMetrics(db, c.runId)).toBe(c.rows);
    }
    // Whatever was in flight is either fully there or fully absent: no run has a partial batch.
    const partial = db
      .prepare('SELECT r.id, COUNT(m.step) AS n FROM runs r LEFT JOIN metrics m ON m.run_id = r.id GROUP BY r.id HAVING n NOT IN (0, 200)')
      .all();
    expect(partial).toEqual([]);
  });
});
