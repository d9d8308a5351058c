import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { WindowProfile } from './profiling/windowProfile.ts';

/** Median and spread of repeated measurements. */
export function summarize(values: number[]): { median: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** The median of repeated measurements and their spread as `min – max` text. */
export function spread(values: number[], digits?: number): [number, string] {
  const s = summarize(values);
  const f = (n: number) => (digits === undefined ? formatNumber(n) : n.toFixed(digits));
  return [s.median, s.min === s.max ? f(s.min) : `${f(s.min)} – ${f(s.max)}`];
}

/** A quantile of unsorted values (nearest rank). */
export function quantile(values: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** A realistic sample: tag name, engine time, numeric value, unit. */
export function benchSample(i: number) {
  return { kind: 'sample' as const, tag: `reactor${i % 4}.temp`, value: 20 + (i % 1000) / 100, unit: 'degC' };
}

/** The same sample as the alternatives carry it: a plain object with the engine time in it. */
export interface PlainSample {
  tag: string;
  t: number;
  value: number;
  unit: string;
  /** Only where a benchmark counts distinct records (detection): the sender's running number. */
  seq?: number;
}

/** Tag names as an engine holds them: a few constant strings, not a new string per sample. */
const TAGS = ['reactor0.temp', 'reactor1.temp', 'reactor2.temp', 'reactor3.temp'];

export function plainSample(i: number, t: number): PlainSample {
  return { tag: TAGS[i % 4]!, t, value: 20 + (i % 1000) / 100, unit: 'degC' };
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes on one machine. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
export const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Polls `condition` every `everyMs` until it holds (true) or `timeoutMs` passes (false). */
export async function waitUntil(condition: () => boolean, timeoutMs: number, everyMs = 5): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > until) return false;
    await sleep(everyMs);
  }
  return true;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = address && typeof address === 'object' ? address.port : 0;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts a TypeScript file in a child Node process (tsx) and resolves with its first stdout JSON line. */
export async function startChild(
  file: string,
  args: string[] = [],
  nodeFlags: string[] = [],
): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', file, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await once(lines, 'line')) as [string];
  lines.close();
  return { child, ready: JSON.parse(line) };
}

/** Runs a TypeScript file to completion in a child Node process and returns its last stdout JSON line. */
export async function runChild<T = { perSecond: number }>(
  file: string,
  args: string[] = [],
  nodeFlags: string[] = [],
): Promise<T> {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', file, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    out += chunk;
  });
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`${file} exited with ${code}`);
  const last = out.trim().split('\n').pop()!;
  return JSON.parse(last);
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

// Server children spoken to over IPC: the child says `ready`, reports events as they happen (with the
// wall-clock time they happened at) and answers requests.

export interface ServerEvent {
  event: string;
  at: number;
  [key: string]: unknown;
}

export interface ServerHandle {
  child: ChildProcess;
  ready: Record<string, unknown>;
  /** Every event the child reported so far, oldest first. */
  events: ServerEvent[];
  /** Resolves with the first event (already reported or future) that matches, or undefined after `timeoutMs`. */
  waitEvent(match: (event: ServerEvent) => boolean, timeoutMs: number): Promise<ServerEvent | undefined>;
  request<T = Record<string, unknown>>(request: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

type ChildMessage =
  | { type: 'ready'; ready: Record<string, unknown> }
  | { type: 'event'; event: ServerEvent }
  | { type: 'reply'; id: number; reply: unknown; error?: string };

/** Starts a server child (see `serve`) and resolves once it is ready. */
export async function startServer(
  file: string,
  args: string[] = [],
  nodeFlags: string[] = [],
): Promise<ServerHandle> {
  // BENCH_CPU_PROF=<dir>: every server child profiles its measuring window (CpuWindow, WindowProfile).
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', file, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const events: ServerEvent[] = [];
  const waiters: Array<{ match: (event: ServerEvent) => boolean; resolve: (e: ServerEvent) => void }> = [];
  const pending = new Map<number, { resolve: (value: never) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code} before it was ready`)));
    child.on('message', (raw) => {
      const message = raw as ChildMessage;
      if (message.type === 'ready') resolve(message.ready);
      else if (message.type === 'event') {
        events.push(message.event);
        for (let i = waiters.length - 1; i >= 0; i--)
          if (waiters[i]!.match(message.event)) waiters.splice(i, 1)[0]!.resolve(message.event);
      } else if (message.type === 'reply') {
        const p = pending.get(message.id);
        pending.delete(message.id);
        if (message.error) p?.reject(new Error(message.error));
        else p?.resolve(message.reply as never);
      }
    });
  });
  child.removeAllListeners('exit');
  child.on('exit', () => {
    for (const p of pending.values()) p.reject(new Error(`${file} exited`));
    pending.clear();
  });
  return {
    child,
    ready,
    events,
    waitEvent(match, timeoutMs) {
      const found = events.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => {
        const waiter = { match, resolve };
        waiters.push(waiter);
        setTimeout(() => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          resolve(undefined);
        }, timeoutMs).unref();
      });
    },
    request<T>(request: Record<string, unknown>) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (value: never) => void, reject });
        child.send({ id, request });
      });
    },
    stop: () => stopChild(child),
  };
}

/** The child's side of `startServer`: says ready, answers requests, and returns a way to report events. */
export function serve(
  ready: Record<string, unknown>,
  answer: (request: Record<string, unknown>) => unknown,
): { report(event: string, details?: Record<string, unknown>): void } {
  if (!process.send) throw new Error('start this file with startServer (it needs an IPC channel)');
  const send = (message: ChildMessage) => process.send?.(message);
  process.on('message', async (raw) => {
    const { id, request } = raw as { id: number; request: Record<string, unknown> };
    try {
      send({ type: 'reply', id, reply: await answer(request) });
    } catch (error) {
      send({ type: 'reply', id, reply: null, error: (error as Error).message });
    }
  });
  // The parent going away ends the child too.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', ready });
  return {
    report(event, details = {}) {
      send({ type: 'event', event: { event, at: wallNow(), ...details } });
    },
  };
}

/**
 * CPU time and event-loop use of this process over a window, for server children; with BENCH_CPU_PROF, a
 * CPU profile of the window too (WindowProfile, named after the server).
 */
export class CpuWindow {
  private cpu = process.cpuUsage();
  private wall = performance.now();
  private elu = performance.eventLoopUtilization();
  private readonly profile: WindowProfile;

  constructor(name: string) {
    this.profile = new WindowProfile(name);
  }

  async restart(): Promise<void> {
    await this.profile.start();
    this.cpu = process.cpuUsage();
    this.wall = performance.now();
    this.elu = performance.eventLoopUtilization();
  }

  /**
   * CPU as a share of one core (100 = one core busy), and event-loop utilisation (0..1); `counts` (frames,
   * records of the window) go beside the profile.
   */
  async read(
    counts: Record<string, number> = {},
  ): Promise<{ cpuPercent: number; eventLoopUtilization: number; seconds: number }> {
    const cpu = process.cpuUsage(this.cpu);
    const wallMs = performance.now() - this.wall;
    const elu = performance.eventLoopUtilization(this.elu).utilization;
    await this.profile.stop(counts);
    return {
      cpuPercent: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
      eventLoopUtilization: elu,
      seconds: wallMs / 1000,
    };
  }
}

/** Ingest latencies (ms) collected in a server child between window start and stop. */
export class LatencyWindow {
  private values = new Float64Array(1 << 16);
  private count = 0;
  private open = false;

  start(): void {
    this.count = 0;
    this.open = true;
  }

  add(ms: number): void {
    if (!this.open) return;
    if (this.count === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.count++] = ms;
  }

  stop(): { records: number; p50: number; p99: number; max: number } {
    this.open = false;
    const values = this.values.subarray(0, this.count);
    let max = 0;
    for (const v of values) if (v > max) max = v;
    return { records: this.count, p50: quantile(values, 0.5), p99: quantile(values, 0.99), max };
  }
}

// Report: what every section gets, and tables.

/** One line of the closing "where it stands" table. */
export interface Standing {
  target: string;
  /** The figure that decides it, as text. */
  figure: string;
  /** undefined: not measured in this run (and why is in `figure`). */
  met: boolean | undefined;
}

export interface BenchContext {
  runs: number;
  quick: boolean;
  log(line: string): void;
  /** Runs `fn` once per run (BENCH_RUNS), logging progress. */
  repeat<T>(label: string, fn: () => Promise<T>): Promise<T[]>;
  /** Adds a line to the closing table. */
  stand(standing: Standing): void;
  /**
   * Runs one measurement; when it fails (this checkout is shared and changing), logs why and tries once
   * more, and the report says so.
   */
  attempt<T>(label: string, fn: () => Promise<T>): Promise<T>;
  /** A remark printed under the closing table. */
  note(text: string): void;
  /** Figures one section leaves for a later one (the send() overhead section reads the others'). */
  shared: Map<string, unknown>;
  /** Absolute path of bench/scenarios/<name>.ts and bench/servers/<name>.ts. */
  scenario(name: string): string;
  server(name: string): string;
}

export type Section = (ctx: BenchContext) => Promise<string>;

/**
 * Measures every key `ctx.runs` times, interleaved (run 1 of each key, then run 2, …), so that a busy
 * moment of this shared machine falls on all of them alike. Results by key, in run order.
 */
export async function interleaved<K extends string, R>(
  ctx: BenchContext,
  label: string,
  keys: readonly K[],
  measure: (key: K) => Promise<R>,
): Promise<Map<K, R[]>> {
  const results = new Map<K, R[]>(keys.map((key) => [key, []]));
  for (let run = 0; run < ctx.runs; run++)
    for (const key of keys) {
      ctx.log(`  ${key}: run ${run + 1}/${ctx.runs}`);
      results.get(key)!.push(await ctx.attempt(`${label} ${key}`, () => measure(key)));
    }
  return results;
}

export function table(title: string, headers: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((row) => row.map((c) => (typeof c === 'number' ? formatNumber(c) : c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (c ?? '').padEnd(widths[i]!)).join(' | ')} |`;
  return [
    `### ${title}`,
    '',
    line(headers),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...cells.map((r) => line(r as string[])),
    '',
  ].join('\n');
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** `n` with thousands separators, no decimals. */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A ratio as `1.23x`. */
export function ratio(a: number, b: number): string {
  return b > 0 && Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : '–';
}
