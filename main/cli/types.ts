export interface CliContext {
  /** Where hukuk.db, models/, datasets/ and runs/ live (--data-dir, $HUKUK_DATA_DIR, or the default). */
  dataDir: string;
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

export interface CliCommand {
  /** One line for `hukuk help`. */
  summary: string;
  run(args: string[], ctx: CliContext): Promise<number>;
}
