// Training runs from the UI: create (the row, queued), prepare the data (the dataset tokenized
// with the model's tokenizer and the dataset's template, cached next to the dataset), and train
// in the engine worker through RunJobs (status, metrics in batches, cancel, worker death =>
// failed). One run trains at a time; the others wait in a FIFO queue. Checkpoints and the final
// adapter are recorded in SQLite; the files live under <data>/runs/<id>/.
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { AppError, toErrorValue } from '../../common/contract/errors';
import type { MetricPoint, Run } from '../../common/contract/runs';
import { resolveTrainingConfig, type TrainingConfig, type TrainingConfigInput } from '../../common/training/config';
import { trainEventMetricPoints } from '../../common/training/metrics';
import { readTokenizedCache } from '../io/datasets';
import { RunJobs } from '../jobs/run-job';
import {
  addAdapter,
  addCheckpoint,
  createRun,
  findDataset,
  findModel,
  getRun,
  listAdapters,
  listCheckpoints,
  listMetrics,
  listRuns,
  setRunDir,
  updateRunStatus,
  deleteRun,
} from '../store/repositories';
import type { AppServices } from './index';
import { ensureTokenizedCache } from './datasets';

export interface CreateRunRequest {
  name: string;
  modelId: number;
  datasetId: number;
  config: TrainingConfigInput;
  device?: 'cpu' | 'cuda';
}

type Services = Pick<AppServices, 'db' | 'events' | 'supervisor' | 'paths'>;

export class RunsService {
  readonly jobs: RunJobs;
  private readonly queue: number[] = [];
  private active: number | null = null;
  /** runs asked to stop while their data was being prepared (not yet in RunJobs) */
  private readonly stopAsked = new Set<number>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly services: Services,
    private readonly log: (level: 'info' | 'warn' | 'error', message: string) => void = () => {},
  ) {
    this.jobs = new RunJobs(services);
  }

  /**
   * After a restart: a run left 'running' has lost its worker (failed, with its checkpoints
   * kept); runs left 'queued' go back into the queue in the order they were created.
   */
  recover(): { failed: number; requeued: number } {
    const { db } = this.services;
    let failed = 0;
    let requeued = 0;
    for (const run of listRuns(db, {}).reverse()) {
      if (run.status === 'running' && !this.jobs.isRunning(run.id) && this.active !== run.id) {
        this.setStatus(run.id, 'failed', 'The app stopped while this run was training.');
        failed++;
      } else if (run.status === 'queued' && this.active !== run.id && !this.queue.includes(run.id)) {
        this.queue.push(run.id);
        requeued++;
      }
    }
    this.pump();
    return { failed, requeued };
  }

  /** Records the run (queued) and starts it, or queues it behind the running one. */
  create(req: CreateRunRequest): Run {
    const { db } = this.services;
    const model = findModel(db, req.modelId);
    if (!model) throw new AppError('not_found', `Model ${req.modelId} does not exist.`);
    const dataset = findDataset(db, req.datasetId);
    if (!dataset) throw new AppError('not_found', `Dataset ${req.datasetId} does not exist.`);
    let config: TrainingConfig;
    try {
      config = resolveTrainingConfig(req.config, req.device ? { device: req.device } : undefined);
    } catch (e) {
      const issues = (e as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
      throw new AppError('invalid_payload', `The training configuration is not valid: ${issues ? issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : (e as Error).message}`);
    }
    const run = createRun(db, { name: req.name, modelId: model.id, datasetId: dataset.id, config: { ...config }, device: config.device });
    const dir = path.join(this.services.paths.runs, String(run.id));
    setRunDir(db, run.id, dir);
    this.services.events.emit('runs:status', [{ runId: run.id, status: 'queued', error: null }]);
    this.queue.push(run.id);
    this.pump();
    return getRun(db, run.id);
  }

  /** Queued: cancelled at once. Running: the worker is asked to stop (the run ends 'cancelled'). */
  cancel(id: number): { cancelled: boolean } {
    const run = getRun(this.services.db, id);
    const qi = this.queue.indexOf(id);
    if (qi >= 0) {
      this.queue.splice(qi, 1);
      this.setStatus(id, 'cancelled', 'Cancelled before it started.');
      return { cancelled: true };
    }
    if (this.jobs.cancel(id)) return { cancelled: true };
    if (this.active === id) {
      this.stopAsked.add(id); // still preparing its data: stops before training starts
      return { cancelled: true };
    }
    if (run.status === 'queued' || run.status === 'running') {
      // Left unfinished by an app that stopped (nothing of ours is working on it).
      this.setStatus(id, 'cancelled', 'Cancelled (no job was working on it).');
      return { cancelled: true };
    }
    return { cancelled: false };
  }

  /** Removes the run, its metrics/checkpoints rows and its folder (only inside <data>/runs). */
  delete(id: number): { deleted: boolean; removedFiles: boolean } {
    const { db } = this.services;
    const run = getRun(db, id);
    if (this.active === id || this.jobs.isRunning(id)) {
      throw new AppError('conflict', `Run ${id} is ${run.status}: cancel it before deleting it.`);
    }
    const qi = this.queue.indexOf(id);
    if (qi >= 0) this.queue.splice(qi, 1);
    // Chat sessions keep working only while their adapter exists: drop the rows with the files.
    db.transaction(() => {
      db.prepare('DELETE FROM adapters WHERE run_id = ?').run(id);
      deleteRun(db, id);
    })();
    let removedFiles = false;
    const root = path.resolve(this.services.paths.runs);
    if (run.dir && path.resolve(run.dir).startsWith(root + path.sep) && existsSync(run.dir)) {
      rmSync(run.dir, { recursive: true, force: true });
      removedFiles = true;
    }
    return { deleted: true, removedFiles };
  }

  /** Several runs' points for one chart. */
  compare(runIds: number[], names?: string[]): { runId: number; name: string; status: Run['status']; points: MetricPoint[] }[] {
    return runIds.map((id) => {
      const run = getRun(this.services.db, id);
      return { runId: id, name: run.name, status: run.status, points: listMetrics(this.services.db, id, { names }) };
    });
  }

  /** Resolves when nothing runs and nothing waits (tests, shutdown). */
  whenIdle(): Promise<void> {
    if (this.active === null && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private setStatus(id: number, status: Run['status'], error: string | null): void {
    if (updateRunStatus(this.services.db, id, status, error)) this.services.events.emit('runs:status', [{ runId: id, status, error }]);
  }

  private pump(): void {
    if (this.active !== null) return;
    const next = this.queue.shift();
    if (next === undefined) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
      return;
    }
    this.active = next;
    void this.execute(next)
      .catch((e) => this.log('error', `run ${next}: ${toErrorValue(e).message}`))
      .finally(() => {
        this.active = null;
        this.stopAsked.delete(next);
        this.pump();
      });
  }

  private async execute(id: number): Promise<void> {
    const { db } = this.services;
    const run = getRun(db, id);
    if (run.status !== 'queued') return;
    let params;
    try {
      params = await this.prepare(run);
    } catch (e) {
      const err = toErrorValue(e);
      this.setStatus(id, 'failed', `Preparing the data failed: ${err.message}`);
      return;
    }
    if (this.stopAsked.has(id)) {
      this.setStatus(id, 'cancelled', 'Cancelled before training started.');
      return;
    }
    try {
      const result = await this.jobs.run({
        runId: id,
        method: 'train:run',
        params: params.worker,
        toMetrics: trainEventMetricPoints,
        onEvent: (e) => {
          if (e.type === 'checkpoint') {
            addCheckpoint(db, { runId: id, step: e.step, path: e.dir, metrics: {} });
            // The trainer keeps only the newest keepCheckpoints folders: forget the pruned ones.
            for (const c of listCheckpoints(db, id)) if (!existsSync(c.path)) db.prepare('DELETE FROM checkpoints WHERE id = ?').run(c.id);
          }
          else if (e.type === 'log') this.log('info', `run ${id}: ${e.message}`);
        },
      });
      if (result.adapterDir) {
        addAdapter(db, {
          name: run.name,
          runId: id,
          checkpointId: null,
          baseModelId: run.modelId,
          path: result.adapterDir,
          // What chat needs to ask the way the model was trained.
          config: { template: params.template, maxSourceLength: params.config.maxSourceLength, steps: result.steps, finalLoss: result.finalLoss, finalEvalLoss: result.finalEvalLoss },
          source: 'trained',
          copied: true,
        });
      }
    } catch (e) {
      // RunJobs (or the supervisor's onJobLost) recorded the failure/cancel already.
      this.log('warn', `run ${id} ended: ${toErrorValue(e).message}`);
    }
  }

  /** The worker's parameters: tokenized cache (built on first use), model dir, output dir. */
  private async prepare(run: Run) {
    const { db } = this.services;
    const config = resolveTrainingConfig(run.config as TrainingConfigInput);
    const model = run.modelId === null ? undefined : findModel(db, run.modelId);
    if (!model) throw new AppError('not_found', 'The run\'s base model was deleted.');
    const dataset = run.datasetId === null ? undefined : findDataset(db, run.datasetId);
    if (!dataset) throw new AppError('not_found', 'The run\'s dataset was deleted.');
    const file = await ensureTokenizedCache({ db, datasetsDir: this.services.paths.datasets }, dataset.id, model.storedPath);
    const cache = readTokenizedCache(file);
    const names = Object.keys(cache.splits);
    if (!cache.splits.train || cache.splits.train.rows === 0) throw new AppError('invalid_payload', `The dataset has no training rows (splits: ${names.join(', ') || 'none'}).`);
    // The QLoRA study's data has train/test only: evaluate on test when there is no validation split.
    const validationSplit = cache.splits.validation ? 'validation' : cache.splits.test ? 'test' : undefined;
    const vocab = model.vocabSize ?? Number((model.config as { vocab_size?: unknown }).vocab_size);
    let maxId = -1;
    for (const s of Object.values(cache.splits)) {
      for (const id of s.inputIds) if (id > maxId) maxId = id;
      for (const id of s.targetIds) if (id > maxId) maxId = id;
    }
    if (Number.isFinite(vocab) && maxId >= vocab) {
      throw new AppError('invalid_payload', `The tokenizer produces id ${maxId}, but the model's vocabulary has ${vocab} entries: the model folder has the wrong tokenizer.`);
    }
    return {
      config,
      template: cache.header.template,
      worker: {
        config,
        modelDir: model.storedPath,
        outputDir: run.dir ?? path.join(this.services.paths.runs, String(run.id)),
        baseModelName: model.name,
        data: { kind: 'cache' as const, file, trainSplit: 'train', validationSplit },
      },
    };
  }
}

/** The run's artifacts (for the detail view and chat). */
export function runArtifacts(services: Pick<AppServices, 'db'>, runId: number) {
  return { checkpoints: listCheckpoints(services.db, runId), adapters: listAdapters(services.db, { runId }) };
}

const instances = new WeakMap<object, RunsService>();

/**
 * The one RunsService of an AppServices (its queue must be shared by every front end). Made on
 * first use, which also recovers what a previous process left unfinished (see recover()); an
 * app can call it at start to resume queued runs at once.
 */
export function runsServiceOf(services: Services): RunsService {
  let s = instances.get(services);
  if (!s) {
    s = new RunsService(services);
    instances.set(services, s);
    s.recover();
  }
  return s;
}
