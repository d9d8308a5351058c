import { ResilientDispatcher } from '../engine/resilientDispatcher.ts';
import { SimulatedEngine } from '../engine/simulatedEngine.ts';
import { WebSocketConnector } from '../transport/webSocketTransport.ts';
import { helpText, numberOption, type OptionSpecs, parseOptions, UsageError } from './args.ts';
import { createLogger } from './logger.ts';

const specs = {
  aggregator: { type: 'string', description: 'aggregator URL', default: 'ws://127.0.0.1:8080' },
  id: { type: 'string', description: 'engine id (letters, digits, . _ : -)' },
  secret: { type: 'string', description: 'token presented to the aggregator (or ENGINE_LINK_SECRET)' },
  simulate: { type: 'boolean', description: 'produce simulated samples', default: false },
  rate: { type: 'string', description: 'sample records per second', default: '100' },
  tags: { type: 'string', description: 'number of simulated tags', default: '5' },
  'run-seconds': {
    type: 'string',
    description: 'length of each simulated method run; 0: runs start only on a start command',
    default: '0',
  },
  'fail-every': { type: 'string', description: 'every Nth run fails (0: none)', default: '0' },
  'drain-timeout': { type: 'string', description: 'seconds to wait for the backlog on exit', default: '10' },
  'heartbeat-timeout': {
    type: 'string',
    description: 'ms of silence before the link counts as dead',
    default: '3000',
  },
  'max-records': { type: 'string', description: 'outbox bound in records', default: '2000000' },
  'max-bytes': { type: 'string', description: 'outbox bound in bytes', default: String(128 * 1024 * 1024) },
  'log-level': { type: 'string', description: 'fatal|error|warn|info|debug|trace|silent', default: 'info' },
} satisfies OptionSpecs;

export const engineUsage = helpText(
  'engine-link engine --aggregator ws://127.0.0.1:8080 --id sim-1 --simulate [options]',
  'Runs an engine whose records reach the aggregator exactly once and in order, through outages.\n' +
    'On SIGINT/SIGTERM it stops producing, waits for the backlog, and prints one JSON line with its counts.',
  specs,
);

export async function engineCommand(argv: string[]): Promise<number> {
  const options = parseOptions(argv, specs);
  if (options.help) {
    process.stdout.write(engineUsage);
    return 0;
  }
  if (!options.id) throw new UsageError('--id is required');
  if (!options.simulate)
    throw new UsageError('--simulate is required: this build has no driver for real hardware engines');
  const log = createLogger(options['log-level'], 'engine');
  let engine: SimulatedEngine | undefined;
  const dispatcher = new ResilientDispatcher({
    snapshot: () => engine?.runs.snapshot(),
    engineId: options.id,
    connector: new WebSocketConnector(options.aggregator ?? 'ws://127.0.0.1:8080'),
    token: options.secret ?? process.env.ENGINE_LINK_SECRET,
    heartbeatTimeoutMs: numberOption(options['heartbeat-timeout'], 'heartbeat-timeout', 3000, 100),
    outbox: {
      maxRecords: numberOption(options['max-records'], 'max-records', 2_000_000, 10),
      maxBytes: numberOption(options['max-bytes'], 'max-bytes', 128 * 1024 * 1024, 1024),
    },
  });
  dispatcher.on('state', (state) => log.info({ state, ...dispatcher.stats }, `link ${state}`));
  dispatcher.on('retry', (retry) => log.debug(retry, 'retry scheduled'));
  dispatcher.on('gap', (gap) => log.warn(gap, 'records dropped by the overflow policy'));
  dispatcher.on('backpressure', (info) => log.warn(info, 'outbox over its bound with events only'));
  dispatcher.on('error', (error) => log.error({ err: error }, error.message));
  engine = new SimulatedEngine(dispatcher, {
    rate: numberOption(options.rate, 'rate', 100, 0.001),
    tags: numberOption(options.tags, 'tags', 5, 1),
    runSeconds: numberOption(options['run-seconds'], 'run-seconds', 0, 0),
    failEvery: numberOption(options['fail-every'], 'fail-every', 0, 0),
  });
  dispatcher.handleCommands(engine.handleCommand);
  engine.start();
  const drainMs = numberOption(options['drain-timeout'], 'drain-timeout', 10, 0) * 1000;

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  engine.stop();
  log.info({ backlog: dispatcher.stats.backlog, drainMs }, 'stopping: draining the backlog');
  await dispatcher.close({ drainTimeoutMs: drainMs });
  const s = dispatcher.stats;
  process.stdout.write(
    `${JSON.stringify({
      engineId: s.engineId,
      epoch: s.epoch,
      produced: s.produced,
      lastSeq: s.lastSeq,
      acked: s.acked,
      dropped: s.dropped + s.coalesced,
      backlog: s.backlog,
    })}\n`,
  );
  return 0;
}
