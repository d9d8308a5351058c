import { afterEach } from 'vitest';
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

/**
 * The CLI processes of a test file: `start` runs one, and whatever is still running after each test is
 * killed (SIGKILL) and waited for. Call once at the top of the file.
 */
export function cliProcesses(): {
  start(args: string[], env?: NodeJS.ProcessEnv, options?: Omit<CliOptions, 'env'>): CliProcess;
} {
  const running: CliProcess[] = [];
  afterEach(async () => {
    for (const p of running.splice(0))
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
  });
  return {
    start: (args, env = {}, options = {}) => {
      const p = runCli(args, env, options);
      running.push(p);
      return p;
    },
  };
}

/** Starts an aggregator (any free port) and resolves with its HTTP URL once it listens. */
export async function startAggregatorCli(
  start: (args: string[]) => CliProcess,
  db: string,
  extra: string[] = [],
): Promise<{ p: CliProcess; url: string; wsUrl: string }> {
  const p = start(['aggregator', '--port', '0', '--db', db, '--log-level', 'warn', ...extra]);
  const url = /listening on (https?:\/\/\S+)/.exec(await p.waitForLine(/listening on/))![1]!;
  return { p, url, wsUrl: url.replace(/^http/, 'ws') };
}

/** Resolves with the exit status, or 'hung' when the process is still running after `ms`. */
export function exitWithin(p: CliProcess, ms = 15_000): Promise<number | null | 'hung'> {
  return Promise.race([
    p.exited,
    new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), ms).unref()),
  ]);
}
