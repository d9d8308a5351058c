import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  Aggregator,
  DEFAULT_BUSY_RETRY_AFTER_MS,
  DEFAULT_MAX_RECORDS_PER_FRAME,
} from '../aggregator/aggregator.ts';
import { DEFAULT_HEADERS_TIMEOUT_MS, startAggregatorServer } from '../aggregator/server.ts';
import { SqliteStore } from '../aggregator/sqliteStore.ts';
import { type EngineTokens, loadTokenFile, TokenFileError } from '../aggregator/tokens.ts';
import { dashboardRoutes } from '../dashboard/dashboardRoutes.ts';
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/codec.ts';
import { helpText, numberOption, type OptionSpecs, parseOptions, UsageError } from './args.ts';
import { inspectOptionSpec, startInspection } from './inspectOption.ts';
import { createLogger } from './logger.ts';

const specs = {
  port: { type: 'string', description: 'port for HTTP and engine links (0: any free port)', default: '8080' },
  host: { type: 'string', description: 'address to listen on', default: '127.0.0.1' },
  db: { type: 'string', description: 'SQLite file of the store', default: './data/aggregator.db' },
  secret: { type: 'string', description: 'shared secret engines must present (or ENGINE_LINK_SECRET)' },
  tokens: {
    type: 'string',
    description:
      'per-engine token file: JSON {"engineId": "token"} or lines "engineId token"; sha256:<hex> for hashed tokens; reread on SIGHUP',
  },
  'api-token': {
    type: 'string',
    description: 'token required by the HTTP API and dashboard, all but /healthz (or ENGINE_LINK_API_TOKEN)',
  },
  cert: { type: 'string', description: 'TLS certificate (PEM) file: serve https:// and wss:// (with --key)' },
  key: { type: 'string', description: 'TLS private key (PEM) file (with --cert)' },
  'max-engines': {
    type: 'string',
    description: 'most engines connected at once (0: no limit)',
    default: '0',
  },
  'max-frame-bytes': {
    type: 'string',
    description: 'largest frame accepted from an engine',
    default: String(DEFAULT_MAX_FRAME_BYTES),
  },
  'max-records-per-frame': {
    type: 'string',
    description: 'most records in one frame from an engine',
    default: String(DEFAULT_MAX_RECORDS_PER_FRAME),
  },
  'max-ingest-rate': {
    type: 'string',
    description: 'records/s each engine may have stored; over it acknowledgements wait (0: no limit)',
    default: '0',
  },
  'busy-retry-after': {
    type: 'string',
    description: 'ms an engine refused for --max-engines (or told busy) waits, jittered up to 2x',
    default: String(DEFAULT_BUSY_RETRY_AFTER_MS),
  },
  'headers-timeout': {
    type: 'string',
    description: 'ms a client may take to send its request headers (and TLS handshake) before 408',
    default: String(DEFAULT_HEADERS_TIMEOUT_MS),
  },
  'heartbeat-ms': { type: 'string', description: 'ping period towards engines', default: '1000' },
  'heartbeat-timeout': {
    type: 'string',
    description: 'ms of silence before an engine is unavailable',
    default: '2500',
  },
  'abandon-after': {
    type: 'string',
    description: 'seconds an unconfirmed run waits for its engine before it is interrupted ("engine lost")',
    default: String(24 * 60 * 60),
  },
  'command-timeout': { type: 'string', description: 'seconds a command waits for the engine', default: '10' },
  ...inspectOptionSpec,
  'log-level': { type: 'string', description: 'fatal|error|warn|info|debug|trace|silent', default: 'info' },
} satisfies OptionSpecs;

export const aggregatorUsage = helpText(
  'engine-link aggregator --port 8080 --db ./data/aggregator.db [--host 127.0.0.1] [--secret S | --tokens FILE]\n' +
    '       [--api-token T] [--cert FILE --key FILE] [limits]',
  'Collects records from engines into an embedded SQLite store, exactly once and in order, reconciles\n' +
    'their runs, and serves the HTTP API (GET /healthz, /api/engines, /api/runs, /api/events;\n' +
    'POST /api/engines/:id/commands) and the dashboard at /. Stops cleanly on SIGINT/SIGTERM.',
  specs,
);

export async function aggregatorCommand(argv: string[]): Promise<number> {
  const options = parseOptions(argv, specs);
  if (options.help) {
    process.stdout.write(aggregatorUsage);
    return 0;
  }
  const log = createLogger(options['log-level'], 'aggregator');
  const inspector = startInspection(options.inspect, log);
  if ((options.cert === undefined) !== (options.key === undefined))
    throw new UsageError('--cert and --key go together: give both to serve https:// and wss://');
  const tls =
    options.cert && options.key ? { cert: readPem(options.cert), key: readPem(options.key) } : undefined;
  const secret = options.secret ?? process.env.ENGINE_LINK_SECRET;
  const tokensFile = options.tokens;
  const loadTokens = (): EngineTokens | undefined => {
    if (tokensFile === undefined) return undefined;
    try {
      return loadTokenFile(tokensFile);
    } catch (error) {
      if (error instanceof TokenFileError) throw new UsageError(error.message);
      throw error;
    }
  };
  const tokens = loadTokens();
  const apiToken = options['api-token'] ?? process.env.ENGINE_LINK_API_TOKEN;
  if (apiToken === '') throw new UsageError('--api-token must not be empty');
  const maxEngines = numberOption(options['max-engines'], 'max-engines', 0, 0);
  const maxIngestRate = numberOption(options['max-ingest-rate'], 'max-ingest-rate', 0, 0);
  const db = options.db ?? './data/aggregator.db';
  if (db !== ':memory:') mkdirSync(dirname(db), { recursive: true });
  const aggregator = new Aggregator({
    store: new SqliteStore(db),
    secret,
    tokens,
    maxEngines: maxEngines > 0 ? Math.floor(maxEngines) : undefined,
    maxFrameBytes: numberOption(options['max-frame-bytes'], 'max-frame-bytes', DEFAULT_MAX_FRAME_BYTES, 1024),
    maxRecordsPerFrame: numberOption(
      options['max-records-per-frame'],
      'max-records-per-frame',
      DEFAULT_MAX_RECORDS_PER_FRAME,
      1,
    ),
    maxIngestRate: maxIngestRate > 0 ? maxIngestRate : undefined,
    busyRetryAfterMs: numberOption(
      options['busy-retry-after'],
      'busy-retry-after',
      DEFAULT_BUSY_RETRY_AFTER_MS,
      0,
    ),
    heartbeatMs: numberOption(options['heartbeat-ms'], 'heartbeat-ms', 1000, 10),
    heartbeatTimeoutMs: numberOption(options['heartbeat-timeout'], 'heartbeat-timeout', 2500, 20),
    abandonAfterMs: numberOption(options['abandon-after'], 'abandon-after', 86_400, 0) * 1000,
    commandTimeoutMs: numberOption(options['command-timeout'], 'command-timeout', 10, 0.001) * 1000,
    logger: log,
    inspect: inspector?.inspect,
  });
  aggregator.on('run', (run) =>
    log.info({ runId: run.id, engineId: run.engineId, state: run.state }, `run ${run.id} ${run.state}`),
  );
  aggregator.on('engineState', (change) => log.info(change, `engine ${change.engineId} ${change.link}`));
  if (!secret && !tokens)
    log.warn('engines are not authenticated: give --tokens FILE or --secret S (any engine may connect)');
  if (tls === undefined && options.host !== '127.0.0.1' && options.host !== 'localhost')
    log.warn('links and API are not encrypted: give --cert and --key to serve https:// and wss://');
  const server = await startAggregatorServer({
    aggregator,
    routes: dashboardRoutes(aggregator),
    host: options.host,
    port: numberOption(options.port, 'port', 8080, 0),
    tls,
    apiToken,
    headersTimeoutMs: numberOption(
      options['headers-timeout'],
      'headers-timeout',
      DEFAULT_HEADERS_TIMEOUT_MS,
      100,
    ),
  });
  process.stdout.write(`engine-link aggregator listening on ${server.url} (engines: ${server.wsUrl})\n`);
  process.stdout.write(`dashboard: ${server.url}/\n`);
  // SIGHUP rereads the token file; a file that no longer parses keeps the tokens in force.
  const reload = () => {
    try {
      aggregator.setCredentials({ secret, tokens: loadTokens() });
      log.info({ file: tokensFile }, 'token file reloaded');
    } catch (error) {
      log.error({ err: error }, `token file not reloaded: ${(error as Error).message}`);
    }
  };
  if (tokensFile !== undefined) process.on('SIGHUP', reload);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.off('SIGHUP', reload);
  await server.close();
  await aggregator.close();
  inspector?.stop();
  return 0;
}

function readPem(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`);
  }
}
