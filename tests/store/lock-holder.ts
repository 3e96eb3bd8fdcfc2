// Child process for the data-lock test: an "app" that holds <data> with a run in progress,
// prints "holding <pid> <runId>" and waits to be killed (SIGKILL: no cleanup runs).
import { createAppServices } from '../../main/services';
import { createRun, updateRunStatus } from '../../main/store/repositories';

const services = createAppServices({
  dataDir: process.argv[2],
  appVersion: '0.0.0-test',
  workerFactory: () => {
    throw new Error('no engine in this test');
  },
});
const run = createRun(services.db, { name: 'in progress when killed' });
updateRunStatus(services.db, run.id, 'running');
process.stdout.write(`holding ${process.pid} ${run.id}\n`);
setInterval(() => {}, 1000);
