import { readFileSync } from 'node:fs';
import type { EngineWithRun, RunView } from '../aggregator/aggregator.ts';
import { AGGREGATOR_DEFAULTS } from '../aggregator/aggregatorDefaults.ts';
import { MAX_RUNS_LIMIT } from '../aggregator/http/runRoutes.ts';
import type { EngineTelemetry } from '../dashboard/engineTelemetry.ts';
import { type OptionSpecs, parseOptions, secretOptions, secretWarnings, UsageError } from './args.ts';
import { helpText } from './helpText.ts';
import { getJson, HttpJsonError } from './httpJson.ts';
import { formatTable } from './table.ts';

/** The status command's options: every rule and default in one place (help and checks come from here). */
export const specs = {
  aggregator: {
    kind: 'url',
    protocols: ['http:', 'https:', 'ws:', 'wss:'],
    description:
      "the aggregator's URL (ws:// and wss:// are taken as the same server's http:// and https://)",
    default: `http://${AGGREGATOR_DEFAULTS.host}:${AGGREGATOR_DEFAULTS.port}`,
  },
  runs: {
    kind: 'integer',
    min: 1,
    max: MAX_RUNS_LIMIT,
    unit: 'runs',
    description: 'how many of the newest runs to list',
    default: 20,
  },
  json: { kind: 'flag', description: 'print {engines, runs, hardware} as JSON instead of tables' },
  ...secretOptions('api-token', "the aggregator's API token", 'ENGINE_LINK_API_TOKEN'),
  ca: {
    kind: 'path',
    role: 'input-file',
    description: 'PEM file of the certificate(s) to trust for an https:// aggregator',
  },
} satisfies OptionSpecs;

export const statusUsage = helpText(
  'engine-link status [--aggregator http://127.0.0.1:8080] [--json] [--runs 20] [--api-token-file F]',
  "Prints the aggregator's engines (link, since when, records, catch-up backlog, last seen, hardware,\n" +
    'current run) and its newest runs (state, method, engine start and end times, duration, records,\n' +
    'reason) as two tables, or all of it as JSON with --json. Exits 0 when it printed them, 1 when the\n' +
    'aggregator cannot be reached or answers with an error (such as 401 without its API token), 2 on a\n' +
    'bad command line.',
  specs,
);

export interface StatusReport {
  engines: EngineWithRun[];
  runs: RunView[];
  /** Hardware link states by engine, from the dashboard's telemetry (absent when the aggregator has none). */
  hardware?: Record<string, Record<string, { state?: string; connection?: string }>>;
}

/** The HTTP base URL of an aggregator given as http(s):// or ws(s)://. */
export function apiBase(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--aggregator must be a URL such as http://127.0.0.1:8080 (got "${text}")`);
  }
  if (url.protocol === 'ws:') url.protocol = 'http:';
  else if (url.protocol === 'wss:') url.protocol = 'https:';
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--aggregator must be an http://, https://, ws:// or wss:// URL (got "${text}")`);
  url.pathname = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
  url.search = '';
  return url;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** `14:03:07` today, `2025-01-31 14:03:07` otherwise, local time. */
export function clockTime(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  const today = new Date(now);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return d.toDateString() === today.toDateString()
    ? time
    : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

/** `850ms`, `42s`, `3m05s`, `2h07m`, `3d04h`. */
export function shortDuration(ms: number): string {
  const s = Math.floor(Math.max(0, ms) / 1000);
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${pad(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${pad(m % 60)}m`;
  return `${Math.floor(h / 24)}d${pad(h % 24)}h`;
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** The two tables `engine-link status` prints. */
export function formatStatus(report: StatusReport, now = Date.now()): string {
  // A fleet of aggregators names the node holding each engine.
  const fleet = report.engines.some((engine) => engine.node !== undefined);
  const engineRows = report.engines.map((engine) => {
    const backlog =
      engine.link === 'catching-up' ? integer.format(engine.targetSeq - engine.persistedSeq) : '';
    const hardware = Object.entries(report.hardware?.[engine.id] ?? {})
      .map(([name, value]) => `${name}:${value.state ?? '?'}`)
      .join(' ');
    const run = engine.currentRun ? `${engine.currentRun.id} (${engine.currentRun.state})` : '';
    return [
      engine.id,
      engine.link,
      `${clockTime(engine.since, now)} (${shortDuration(now - engine.since)})`,
      integer.format(engine.persistedCount),
      backlog,
      engine.lastSeenAt === null ? 'never' : `${shortDuration(now - engine.lastSeenAt)} ago`,
      report.hardware ? hardware || '-' : 'n/a',
      run,
      ...(fleet ? [engine.node ?? '-'] : []),
    ];
  });
  const runRows = report.runs.map((run) => [
    run.id,
    run.engineId,
    run.state,
    run.method ?? '',
    clockTime(run.startedAt, now),
    run.endedAt === null ? '' : clockTime(run.endedAt, now),
    run.endedAt === null ? '' : shortDuration(run.endedAt - run.startedAt),
    integer.format(run.records),
    run.reason ?? '',
  ]);
  const engines =
    engineRows.length === 0
      ? 'No engines yet.'
      : formatTable(
          [
            ...['ENGINE', 'LINK', 'SINCE', 'RECORDS', 'BACKLOG', 'LAST SEEN', 'HARDWARE', 'RUN'],
            ...(fleet ? ['NODE'] : []),
          ],
          engineRows,
          [3, 4],
        );
  const runs =
    runRows.length === 0
      ? 'No runs yet.'
      : formatTable(
          ['RUN', 'ENGINE', 'STATE', 'METHOD', 'STARTED', 'ENDED', 'DURATION', 'RECORDS', 'REASON'],
          runRows,
          [6, 7],
        );
  return `Engines\n${engines}\n\nRuns (newest first; start and end are engine times)\n${runs}\n`;
}

/** Reads engines, runs and (when the aggregator serves the dashboard) hardware states. */
export async function fetchStatus(
  base: URL,
  options: { runs: number; token?: string; ca?: Buffer },
): Promise<StatusReport> {
  const get = <T>(path: string) => getJson<T>(new URL(path, base), options);
  const [engines, runs, telemetry] = await Promise.all([
    get<EngineWithRun[]>('api/engines'),
    get<RunView[]>(`api/runs?limit=${options.runs}`),
    get<{ engines: EngineTelemetry[] }>('api/telemetry').catch((error: unknown) => {
      if (error instanceof HttpJsonError && error.status === 404) return undefined;
      throw error;
    }),
  ]);
  const report: StatusReport = { engines, runs };
  if (telemetry) {
    report.hardware = {};
    for (const engine of telemetry.engines) {
      const layers: Record<string, { state?: string; connection?: string }> = {};
      for (const [key, state] of Object.entries(engine.states))
        if (key.startsWith('hardware.'))
          layers[key.slice('hardware.'.length)] = (state.value ?? {}) as {
            state?: string;
            connection?: string;
          };
      report.hardware[engine.engineId] = layers;
    }
  }
  return report;
}

export async function statusCommand(argv: string[]): Promise<number> {
  const options = parseOptions(argv, specs);
  if (options.help) {
    process.stdout.write(statusUsage);
    return 0;
  }
  const base = apiBase(options.aggregator);
  const runs = options.runs;
  if (options.ca !== undefined && base.protocol !== 'https:')
    throw new UsageError('--ca needs an https:// (or wss://) --aggregator; with http:// it would be ignored');
  let ca: Buffer | undefined;
  if (options.ca) {
    try {
      ca = readFileSync(options.ca);
    } catch (error) {
      throw new UsageError(`--ca: cannot read ${options.ca}: ${(error as Error).message}`);
    }
  }
  for (const warning of secretWarnings(specs, options.given))
    process.stderr.write(`engine-link status: warning: ${warning}\n`);
  let report: StatusReport;
  try {
    report = await fetchStatus(base, {
      runs,
      token: options['api-token'],
      ca,
    });
  } catch (error) {
    if (!(error instanceof HttpJsonError)) throw error;
    process.stderr.write(`engine-link status: ${error.message}\n`);
    return 1;
  }
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
  return 0;
}
