import { type CliOptions, type CliProcess, spawnCli } from '../../src/faults/cliProcess.ts';

export type { CliProcess };

/** Runs `engine-link <args>` as a child process, as a user would. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: Omit<CliOptions, 'env'> = {},
): CliProcess {
  return spawnCli(args, { ...options, env });
}
