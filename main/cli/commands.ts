// The CLI command table: name -> lazy module. One line per command; each module is
// main/cli/commands/<name>.ts and exports `run(args, ctx)` and `summary`.
import type { CliCommand } from './types';

export const commands: Record<string, () => Promise<CliCommand>> = {
  info: () => import('./commands/info'),
  serve: () => import('./commands/serve'),
  train: () => import('./commands/train'),
  tokenize: () => import('./commands/tokenize'),
  dataset: () => import('./commands/dataset'),
  model: () => import('./commands/model'),
  pull: () => import('./commands/pull'),
  parity: () => import('./commands/parity'),
};
