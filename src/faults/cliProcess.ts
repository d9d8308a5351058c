import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * The CLI from its sources (scripts/cli.mjs: tsx in the same process, so a namespace prefix still execs
 * node itself): the tests run the code as it is, never a stale build. The built bin is run by the
 * package's consumer test (test/package/).
 */
export const CLI_FROM_SOURCE = resolve(import.meta.dirname, '../../scripts/cli.mjs');

export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  /** Every stdout line so far. */
  lines: string[];
  /** Resolves with the first stdout line (already seen or future) matching `pattern`; rejects on exit. */
  waitForLine(pattern: RegExp): Promise<string>;
  /** Resolves with the exit code (null: killed by a signal), once its output is all read. */
  exited: Promise<number | null>;
  /** Standard error so far (the first megabyte). */
  stderr(): string;
  /** Called with every stdout line as it comes. */
  onLine(listener: (line: string) => void): void;
}

export interface CliOptions {
  /** A command prefix, such as `ip netns exec NAME` (it must exec the program, keeping the pid). */
  prefix?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Also append standard error to this file (for long runs). */
  stderrFile?: string;
  /** Working directory (default: this process's). */
  cwd?: string;
  /** Run as this user and group (root only): what a user without root's privileges sees. */
  uid?: number;
  gid?: number;
}

/** Runs `engine-link <args>` as a child process, as a user would (optionally inside a network namespace). */
export function spawnCli(args: readonly string[], options: CliOptions = {}): CliProcess {
  const prefix = options.prefix ?? [];
  const [command, ...argv] = [...prefix, process.execPath, CLI_FROM_SOURCE, ...args];
  const child = spawn(command!, argv, {
    env: { ...process.env, ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.uid === undefined ? {} : { uid: options.uid }),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
  });
  const lines: string[] = [];
  const listeners: Array<(line: string) => void> = [];
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  let err = '';
  child.stderr.setEncoding('utf8');
  const file = options.stderrFile ? createWriteStream(options.stderrFile, { flags: 'a' }) : undefined;
  child.stderr.on('data', (chunk: string) => {
    if (err.length < 1_000_000) err += chunk;
    file?.write(chunk);
  });
  child.stderr.on('end', () => file?.end());
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const listener of listeners) listener(line);
    for (const waiter of [...waiters])
      if (waiter.pattern.test(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
  });
  // 'close': the process has exited and its output streams are drained (every line seen).
  const exited = once(child, 'close').then(([code]) => code as number | null);
  return {
    child,
    lines,
    exited,
    stderr: () => err,
    onLine: (listener) => listeners.push(listener),
    waitForLine(pattern) {
      const seen = lines.find((line) => pattern.test(line));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        exited.then((code) =>
          reject(new Error(`exited (${code}) before a line matching ${pattern}:\n${err.slice(-4000)}`)),
        );
      });
    },
  };
}

/** Stops a process with `signal` and waits for it; SIGKILL after `graceMs`. */
export async function stopCli(p: CliProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000) {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.exited;
  p.child.kill(signal);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  try {
    return await p.exited;
  } finally {
    clearTimeout(timer);
  }
}
