// `hukuk serve [--port N] [--host 127.0.0.1] [--no-open]`: the app in a browser, over the
// same services and contract as the window. Prints exactly one line
//   Hukuk Studio is serving at http://127.0.0.1:PORT/?token=TOKEN
// on stdout (tests parse it), then serves until SIGINT/SIGTERM.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { findAppRoot } from '../../jobs/worker-process';
import { createHandlers } from '../../ipc/handlers';
import { createAppServices } from '../../services';
import { runsServiceOf } from '../../services/runs';
import { startServer } from '../../server/serve';
import { appVersion } from '../../version';
import type { CliContext } from '../types';

export const summary = 'serve the app to a browser on 127.0.0.1 (--port N, --host H, --no-open)';

const SERVING_PREFIX = 'Hukuk Studio is serving at ';

function openBrowser(url: string): void {
  const hasDisplay = process.platform !== 'linux' || Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
  if (!hasDisplay) return;
  const cmd = process.platform === 'win32' ? 'cmd' : process.platform === 'darwin' ? 'open' : 'xdg-open';
  const args = process.platform === 'win32' ? ['/c', 'start', '""', url] : [url];
  try {
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
  } catch {
    // No browser opener: the printed URL is enough.
  }
}

export async function run(args: string[], ctx: CliContext): Promise<number> {
  let values: { port?: string; host?: string; 'no-open'?: boolean };
  try {
    values = parseArgs({
      args,
      options: { port: { type: 'string' }, host: { type: 'string' }, 'no-open': { type: 'boolean' } },
      strict: true,
    }).values;
  } catch (e) {
    ctx.stderr(`hukuk serve: ${(e as Error).message}`);
    return 2;
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    ctx.stderr(`hukuk serve: --port must be an integer from 0 to 65535, got '${values.port}'`);
    return 2;
  }
  const host = values.host ?? '127.0.0.1';
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
    ctx.stderr(`hukuk serve: warning: listening on ${host}, reachable from other machines; anyone with the URL's token controls the app.`);
  }

  const staticDir = join(findAppRoot(), 'out', 'renderer');
  if (!existsSync(join(staticDir, 'index.html'))) {
    ctx.stderr(`hukuk serve: warning: the UI is not built (${staticDir}/index.html is missing); run \`npm run build\`.`);
  }

  let services;
  try {
    services = createAppServices({
      dataDir: ctx.dataDir,
      appVersion,
      // Everything to stderr (stdout carries only the URL line): worker output, warnings.
      onLog: (_level, message) => ctx.stderr(message),
    });
  } catch (e) {
    // e.g. db_newer_than_app: the message says what to do.
    ctx.stderr(`hukuk serve: ${(e as Error).message}`);
    return 1;
  }
  // Runs a previous process left: queued ones start again, a 'running' one is marked failed.
  runsServiceOf(services);
  let server;
  try {
    server = await startServer({
      handlers: createHandlers(services),
      events: services.events,
      staticDir,
      host,
      port,
      onLog: (_level, message) => ctx.stderr(message),
    });
  } catch (e) {
    await services.close();
    const err = e as NodeJS.ErrnoException;
    ctx.stderr(
      err.code === 'EADDRINUSE'
        ? `hukuk serve: port ${port} is in use; pick another with --port, or --port 0 for any free port.`
        : `hukuk serve: ${err.message}`,
    );
    return 1;
  }
  ctx.stdout(`${SERVING_PREFIX}${server.url}`);
  if (!values['no-open']) openBrowser(server.url);

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  await services.close();
  return 0;
}
