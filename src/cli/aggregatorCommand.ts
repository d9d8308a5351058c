import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { Aggregator } from '../aggregator/aggregator.ts';
import { AGGREGATOR_DEFAULTS } from '../aggregator/aggregatorDefaults.ts';
import { AggregatorMetrics } from '../aggregator/aggregatorMetrics.ts';
import { type EngineTokens, loadTokenFile, TokenFileError } from '../aggregator/auth/tokens.ts';
import { type AggregatorServer, ListenError, startAggregatorServer } from '../aggregator/server.ts';
import type { AsyncStore } from '../aggregator/store/asyncStore.ts';
import { describePostgresUrl, isPostgresUrl } from '../aggregator/store/postgres/postgresConnection.ts';
import { PostgresSchemaError } from '../aggregator/store/postgres/postgresSchema.ts';
import { PostgresStore } from '../aggregator/store/postgres/postgresStore.ts';
import { SqliteStore } from '../aggregator/store/sqliteStore.ts';
import { StoreOpenError } from '../aggregator/store/storeFile.ts';
import { dashboardRoutes } from '../dashboard/dashboardRoutes.ts';
import { MAX_TIMER_MS } from '../time/timerBounds.ts';
import {
  type OptionSpecs,
  parseOptions,
  StartupError,
  secretOptions,
  secretWarnings,
  UsageError,
} from './args.ts';
import { type FleetSettings, fleetOptionSpecs, fleetSettings } from './fleetOptions.ts';
import { helpText } from './helpText.ts';
import { inspectOptionSpec, inspectUrl, startInspection } from './inspectOption.ts';
import { createLogger, logLevelSpec } from './logger.ts';
import { processMetrics } from './metricsServer.ts';
import { StopSignals } from './stopSignals.ts';

/** The aggregator's options: every rule and default in one place (help and checks come from here). */
export const specs = {
  port: {
    kind: 'port',
    min: 0,
    description: 'port for HTTP and engine links (0: any free port)',
    default: AGGREGATOR_DEFAULTS.port,
  },
  host: {
    kind: 'host',
    description: 'address to listen on (0.0.0.0 or ::: every interface)',
    default: AGGREGATOR_DEFAULTS.host,
  },
  'public-url': {
    kind: 'url',
    protocols: ['http:', 'https:'],
    list: true,
    description:
      'URL(s) the dashboard and API are also reached at (a DNS name, a reverse proxy); requests naming any other host are refused',
  },
  db: {
    kind: 'path',
    role: 'output-file',
    special: [':memory:'],
    urlProtocols: ['postgres:', 'postgresql:'],
    description:
      'the store: a SQLite file (created when missing; <file>.lock marks it in use) or a PostgreSQL database, postgres://user[:password]@host[:port]/database (its tables created or migrated at start)',
    default: './data/aggregator.db',
  },
  ...secretOptions('secret', 'shared secret engines must present', 'ENGINE_LINK_SECRET'),
  tokens: {
    kind: 'path',
    role: 'input-file',
    description:
      'per-engine token file: JSON {"engineId": "token"} or lines "engineId token"; sha256:<hex> for hashed tokens; reread on SIGHUP',
  },
  ...secretOptions(
    'api-token',
    'token required by the HTTP API and dashboard, all but /healthz',
    'ENGINE_LINK_API_TOKEN',
  ),
  cert: {
    kind: 'path',
    role: 'input-file',
    requires: 'key',
    description: 'TLS certificate (PEM) file: serve https:// and wss://',
  },
  key: { kind: 'path', role: 'input-file', requires: 'cert', description: 'TLS private key (PEM) file' },
  'max-engines': {
    kind: 'integer',
    min: 0,
    max: 1_000_000,
    unit: 'engines',
    description: 'most engines connected at once (0: no limit)',
    default: 0,
  },
  'max-frame-bytes': {
    kind: 'integer',
    min: 1024,
    max: 256 * 1024 * 1024,
    unit: 'bytes',
    description: 'largest frame accepted from an engine',
    default: AGGREGATOR_DEFAULTS.maxFrameBytes,
  },
  'max-records-per-frame': {
    kind: 'integer',
    min: 1,
    max: 10_000_000,
    unit: 'records',
    description: 'most records in one frame from an engine',
    default: AGGREGATOR_DEFAULTS.maxRecordsPerFrame,
  },
  'max-ingest-rate': {
    kind: 'integer',
    min: 0,
    max: 1_000_000_000,
    unit: 'records/s',
    description: 'records/s each engine may have stored; over it acknowledgements wait (0: no limit)',
    default: 0,
  },
  'busy-retry-after': {
    kind: 'duration',
    unit: 'ms',
    min: 0,
    max: Math.floor(MAX_TIMER_MS / 2),
    description: 'an engine refused for --max-engines (or told busy) waits this long, jittered up to 2x',
    default: AGGREGATOR_DEFAULTS.busyRetryAfterMs,
  },
  'headers-timeout': {
    kind: 'duration',
    unit: 'ms',
    min: 100,
    description: 'time a client may take to send its request headers (and TLS handshake) before 408',
    default: AGGREGATOR_DEFAULTS.headersTimeoutMs,
  },
  'heartbeat-ms': {
    kind: 'duration',
    unit: 'ms',
    min: 10,
    description: 'ping period towards engines',
    default: AGGREGATOR_DEFAULTS.heartbeatMs,
  },
  'heartbeat-timeout': {
    kind: 'duration',
    unit: 'ms',
    min: 20,
    description: 'silence before an engine is unavailable (more than --heartbeat-ms)',
    default: AGGREGATOR_DEFAULTS.heartbeatTimeoutMs,
  },
  'abandon-after': {
    kind: 'duration',
    unit: 's',
    min: 0,
    description: 'an unconfirmed run waits this long for its engine before it is interrupted ("engine lost")',
    default: AGGREGATOR_DEFAULTS.abandonAfterMs / 1000,
  },
  'command-timeout': {
    kind: 'duration',
    unit: 's',
    min: 0.001,
    description: 'a command waits this long for the engine',
    default: AGGREGATOR_DEFAULTS.commandTimeoutMs / 1000,
  },
  'max-event-streams': {
    kind: 'integer',
    min: 1,
    max: 100_000,
    unit: 'streams',
    description: 'live-update streams (/api/events, /api/telemetry/events) open at once; more get 503',
    default: AGGREGATOR_DEFAULTS.eventStreams.maxStreams,
  },
  'max-event-streams-per-client': {
    kind: 'integer',
    min: 1,
    max: 100_000,
    unit: 'streams',
    description: 'live-update streams one client address may hold; more get 429',
    default: AGGREGATOR_DEFAULTS.eventStreams.maxStreamsPerClient,
  },
  ...fleetOptionSpecs,
  ...inspectOptionSpec,
  'log-level': logLevelSpec,
} satisfies OptionSpecs;

export const aggregatorUsage = helpText(
  'engine-link aggregator --port 8080 --db ./data/aggregator.db [--host 127.0.0.1] [--secret-file F | --tokens FILE]\n' +
    '       [--api-token-file F] [--cert FILE --key FILE] [--public-url URL] [limits]\n' +
    '       engine-link aggregator --db postgres://… --node-id N [--lease MS] [...]   (one node of a fleet)',
  'Collects records from engines into a SQLite file or a PostgreSQL database (--db), exactly once and in\n' +
    'order, reconciles their runs, and serves the HTTP API (GET /healthz, /api/engines, /api/runs,\n' +
    '/api/events; POST /api/engines/:id/commands) and the dashboard at /. Stops cleanly on SIGINT/SIGTERM.\n' +
    'On PostgreSQL every aggregator is a node of a fleet: several may share the database, each engine owned\n' +
    'by one node at a time (a lease), taken over by another node when its owner dies.',
  specs,
);

/** Reads the token file; a bad one is a usage error naming it. */
function loadTokens(file: string | undefined): EngineTokens | undefined {
  if (file === undefined) return undefined;
  try {
    return loadTokenFile(file);
  } catch (error) {
    if (error instanceof TokenFileError) throw new UsageError(`--tokens: ${error.message}`);
    throw error;
  }
}

/** Reads the certificate and key, and checks that TLS can use them, before anything is opened. */
function loadTls(cert: string | undefined, key: string | undefined) {
  if (cert === undefined || key === undefined) return undefined;
  const tls = { cert: readPem('cert', cert), key: readPem('key', key) };
  try {
    createSecureContext(tls);
  } catch (error) {
    throw new UsageError(`--cert/--key: TLS cannot use ${cert} and ${key}: ${(error as Error).message}`);
  }
  return tls;
}

function readPem(option: string, path: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (error) {
    throw new UsageError(`--${option}: cannot read ${path}: ${(error as Error).message}`);
  }
  if (!pem.includes('-----BEGIN ')) throw new UsageError(`--${option}: ${path} is not a PEM file`);
  return pem;
}

/** The store `--db` names: a PostgreSQL database (a postgres:// URL; a fleet's node) or a SQLite file. */
async function openStore(db: string, fleet: FleetSettings | undefined): Promise<AsyncStore | SqliteStore> {
  return isPostgresUrl(db)
    ? PostgresStore.open(db, fleet && { fleet: { nodeId: fleet.nodeId, leaseMs: fleet.leaseMs } })
    : new SqliteStore(db);
}

export async function aggregatorCommand(argv: string[]): Promise<number> {
  const options = parseOptions(argv, specs);
  if (options.help) {
    process.stdout.write(aggregatorUsage);
    return 0;
  }
  // Everything given is checked, and every file read, before anything is created or opened.
  if (options['heartbeat-timeout'] <= options['heartbeat-ms'])
    throw new UsageError(
      `--heartbeat-timeout (${options['heartbeat-timeout']} ms) must be longer than --heartbeat-ms (${options['heartbeat-ms']} ms)`,
    );
  const fleet = fleetSettings(options.db, options, options.given);
  const inspect = inspectUrl(options.inspect);
  const tls = loadTls(options.cert, options.key);
  const tokensFile = options.tokens;
  const tokens = loadTokens(tokensFile);
  const { secret } = options;
  const apiToken = options['api-token'];

  const log = createLogger(options['log-level'], 'aggregator');
  for (const warning of secretWarnings(specs, options.given)) log.warn(warning);
  const inspector = startInspection(inspect, log);
  let aggregator: Aggregator | undefined;
  let server: AggregatorServer | undefined;
  const stopAll = async () => {
    await server?.close();
    await aggregator?.close();
    inspector?.stop();
  };
  try {
    aggregator = new Aggregator({
      store: await openStore(options.db, fleet),
      leaseRenewMs: fleet?.leaseRenewMs,
      secret,
      tokens,
      maxEngines: options['max-engines'] > 0 ? options['max-engines'] : undefined,
      maxFrameBytes: options['max-frame-bytes'],
      maxRecordsPerFrame: options['max-records-per-frame'],
      maxIngestRate: options['max-ingest-rate'] > 0 ? options['max-ingest-rate'] : undefined,
      busyRetryAfterMs: options['busy-retry-after'],
      heartbeatMs: options['heartbeat-ms'],
      heartbeatTimeoutMs: options['heartbeat-timeout'],
      abandonAfterMs: options['abandon-after'],
      commandTimeoutMs: options['command-timeout'],
      logger: log,
      inspect: inspector?.inspect,
    });
    // The runs and engines stored are loaded before the first engine is let in.
    await aggregator.ready;
    server = await startAggregatorServer({
      aggregator,
      routes: dashboardRoutes(aggregator),
      metrics: processMetrics(new AggregatorMetrics(aggregator)),
      host: options.host,
      port: options.port,
      tls,
      apiToken,
      headersTimeoutMs: options['headers-timeout'],
      publicUrls: options['public-url']?.split(',').map((url) => url.trim()),
      eventStreams: {
        maxStreams: options['max-event-streams'],
        maxStreamsPerClient: options['max-event-streams-per-client'],
      },
    });
  } catch (error) {
    await stopAll();
    if (
      error instanceof StoreOpenError ||
      error instanceof ListenError ||
      error instanceof PostgresSchemaError
    )
      throw new StartupError(error.message);
    if (isPostgresUrl(options.db))
      throw new StartupError(
        `--db ${describePostgresUrl(options.db)}: cannot use the PostgreSQL database: ${(error as Error).message}`,
      );
    throw error;
  }
  const running = aggregator;
  running.on('run', (run) =>
    log.info({ runId: run.id, engineId: run.engineId, state: run.state }, `run ${run.id} ${run.state}`),
  );
  running.on('engineState', (change) => log.info(change, `engine ${change.engineId} ${change.link}`));
  warnAboutAuthentication(log, secret, tokens, tokensFile);
  if (tls === undefined && options.host !== '127.0.0.1' && options.host !== 'localhost')
    log.warn('links and API are not encrypted: give --cert and --key to serve https:// and wss://');
  if (fleet) await running.fleet?.register(options['node-url'] ?? server.url);
  if (fleet)
    log.info(
      { nodeId: fleet.nodeId, leaseMs: fleet.leaseMs, leaseRenewMs: fleet.leaseRenewMs },
      `node ${fleet.nodeId} of a fleet on ${describePostgresUrl(options.db)}`,
    );
  process.stdout.write(`engine-link aggregator listening on ${server.url} (engines: ${server.wsUrl})\n`);
  process.stdout.write(`dashboard: ${server.url}/\n`);
  log.info(`metrics: ${server.url}/metrics${apiToken === undefined ? '' : ' (with the API token)'}`);
  // SIGHUP rereads the token file; a file that no longer parses keeps the tokens in force.
  const reload = () => {
    try {
      const reloaded = loadTokens(tokensFile);
      running.setCredentials({ secret, tokens: reloaded });
      log.info({ file: tokensFile }, 'token file reloaded');
      warnAboutAuthentication(log, secret, reloaded, tokensFile);
    } catch (error) {
      log.error({ err: error }, `token file not reloaded: ${(error as Error).message}`);
    }
  };
  if (tokensFile !== undefined) process.on('SIGHUP', reload);
  const signals = new StopSignals((line) => log.warn(line), 'closing links without waiting for engines');
  await signals.first;
  process.off('SIGHUP', reload);
  log.info('stopping: closing engine links and the store');
  await Promise.race([server.close(), signals.second]);
  await running.close();
  inspector?.stop();
  signals.dispose();
  return 0;
}

/** Says when engines cannot authenticate at all, or when anyone may connect. */
function warnAboutAuthentication(
  log: ReturnType<typeof createLogger>,
  secret: string | undefined,
  tokens: EngineTokens | undefined,
  tokensFile: string | undefined,
): void {
  if (!secret && !tokens)
    log.warn('engines are not authenticated: give --tokens FILE or --secret-file F (any engine may connect)');
  else if (!secret && tokens?.size === 0)
    log.warn(
      `the token file ${tokensFile} lists no engine and there is no --secret: every engine will be refused (401) until the file lists some (kill -HUP rereads it)`,
    );
}
