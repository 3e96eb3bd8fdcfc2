// Child process for the crash test: writes runs and metric batches in a loop through the
// real repositories and prints "committed <runId> <metricRows>" after each commit. The test
// kills it with SIGKILL at a random moment.
import { openDatabase } from '../../main/store/db';
import { createRun, insertMetrics, updateRunStatus } from '../../main/store/repositories';

const file = process.argv[2];
const db = openDatabase(file);
let batch = 0;
for (;;) {
  const run = createRun(db, { name: `crash-${batch}`, config: { batch } });
  updateRunStatus(db, run.id, 'running');
  const points = Array.from({ length: 200 }, (_, i) => ({ step: i, split: 'train', name: 'loss', value: 1 / (i + 1) }));
  insertMetrics(db, run.id, points);
  process.stdout.write(`committed ${run.id} ${points.length}\n`);
  batch++;
}
