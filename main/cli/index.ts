// Entry of the `hukuk` command (bundled to out/cli/hukuk.cjs; bin/hukuk.js calls main()).
import { commands } from './commands';
import type { CliContext } from './types';
import { defaultDataDir } from '../paths';

function takeGlobalFlags(argv: string[]): { dataDir: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let dataDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--data-dir') dataDir = argv[++i];
    else if (a.startsWith('--data-dir=')) dataDir = a.slice('--data-dir='.length);
    else rest.push(a);
  }
  return { dataDir, rest };
}

export async function main(argv: string[]): Promise<number> {
  const { dataDir, rest } = takeGlobalFlags(argv);
  const [name, ...args] = rest;
  const ctx: CliContext = {
    dataDir: dataDir ?? process.env.HUKUK_DATA_DIR ?? defaultDataDir(),
    stdout: (l) => process.stdout.write(l + '\n'),
    stderr: (l) => process.stderr.write(l + '\n'),
  };
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    ctx.stdout('hukuk — Hukuk Studio without a window\n\nusage: hukuk [--data-dir DIR] <command> [options]\n');
    for (const [n, load] of Object.entries(commands)) ctx.stdout(`  ${n.padEnd(10)} ${(await load()).summary}`);
    return 0;
  }
  const load = commands[name];
  if (!load) {
    ctx.stderr(`hukuk: unknown command '${name}'. Run \`hukuk help\`.`);
    return 2;
  }
  return (await load()).run(args, ctx);
}
