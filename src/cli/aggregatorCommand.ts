import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Aggregator } from '../aggregator/aggregator.ts';
import { startAggregatorServer } from '../aggregator/server.ts';
import { SqliteStore } from '../aggregator/sqliteStore.ts';
import { helpText, numberOption, type OptionSpecs, parseOptions } from './args.ts';
import { createLogger } from './logger.ts';

const specs = {
  port: { type: 'string', description: 'port for HTTP and engine links (0: any free port)', default: '8080' },
  host: { type: 'string', description: 'address to listen on', default: '127.0.0.1' },
  db: { type: 'string', description: 'SQLite file of the store', default: './data/aggregator.db' },
  secret: { type: 'string', description: 'shared secret engines must present (or ENGINE_LINK_SECRET)' },
  'heartbeat-ms': { type: 'string', description: 'ping period towards engines', default: '1000' },
  'heartbeat-timeout': {
    type: 'string',
    description: 'ms of silence before an engine is unavailable',
    default: '3000',
  },
  'abandon-after': {
    type: 'string',
    description: 'seconds an unconfirmed run waits for its engine before it is interrupted ("engine lost")',
    default: String(24 * 60 * 60),
  },
  'command-timeout': { type: 'string', description: 'seconds a command waits for the engine', default: '10' },
  'log-level': { type: 'string', description: 'fatal|error|warn|info|debug|trace|silent', default: 'info' },
} satisfies OptionSpecs;

export const aggregatorUsage = helpText(
  'engine-link aggregator --port 8080 --db ./data/aggregator.db [--host 127.0.0.1] [--secret S]',
  'Collects records from engines into an embedded SQLite store, exactly once and in order, reconciles\n' +
    'their runs, and serves the HTTP API (GET /healthz, /api/engines, /api/runs, /api/events;\n' +
    'POST /api/engines/:id/commands). Stops cleanly on SIGINT/SIGTERM.',
  specs,
);

export async function aggregatorCommand(argv: string[]): Promise<number> {
  const options = parseOptions(argv, specs);
  if (options.help) {
    process.stdout.write(aggregatorUsage);
    return 0;
  }
  const log = createLogger(options['log-level'], 'aggregator');
  const db = options.db ?? './data/aggregator.db';
  if (db !== ':memory:') mkdirSync(dirname(db), { recursive: true });
  const aggregator = new Aggregator({
    store: new SqliteStore(db),
    secret: options.secret ?? process.env.ENGINE_LINK_SECRET,
    heartbeatMs: numberOption(options['heartbeat-ms'], 'heartbeat-ms', 1000, 10),
    heartbeatTimeoutMs: numberOption(options['heartbeat-timeout'], 'heartbeat-timeout', 3000, 20),
    abandonAfterMs: numberOption(options['abandon-after'], 'abandon-after', 86_400, 0) * 1000,
    commandTimeoutMs: numberOption(options['command-timeout'], 'command-timeout', 10, 0.001) * 1000,
    logger: log,
  });
  aggregator.on('run', (run) =>
    log.info({ runId: run.id, engineId: run.engineId, state: run.state }, `run ${run.id} ${run.state}`),
  );
  aggregator.on('engineState', (change) => log.info(change, `engine ${change.engineId} ${change.link}`));
  const server = await startAggregatorServer({
    aggregator,
    host: options.host,
    port: numberOption(options.port, 'port', 8080, 0),
  });
  process.stdout.write(`engine-link aggregator listening on ${server.url} (engines: ${server.wsUrl})\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  await aggregator.close();
  return 0;
}
