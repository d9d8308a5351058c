import { readFileSync } from 'node:fs';
import { DurableOutbox } from '../engine/durableOutbox.ts';
import { AuthRejectedError, ResilientDispatcher } from '../engine/resilientDispatcher.ts';
import { SimulatedEngine } from '../engine/simulatedEngine.ts';
import { WebSocketConnector } from '../transport/webSocketTransport.ts';
import { helpText, numberOption, type OptionSpecs, parseOptions, UsageError } from './args.ts';
import { inspectOptionSpec, startInspection } from './inspectOption.ts';
import { createLogger } from './logger.ts';
import { opcuaOptionSpecs, startOpcUa } from './opcuaOption.ts';
import { CatchUpProgress, showCatchUp } from './progress.ts';

const specs = {
  aggregator: { type: 'string', description: 'aggregator URL', default: 'ws://127.0.0.1:8080' },
  id: { type: 'string', description: 'engine id (letters, digits, . _ : -)' },
  secret: { type: 'string', description: 'token presented to the aggregator (or ENGINE_LINK_SECRET)' },
  ca: { type: 'string', description: 'PEM file of the certificate(s) to trust for a wss:// aggregator' },
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
  'rejected-retry': {
    type: 'string',
    description:
      'seconds between attempts while the aggregator refuses this engine (its token or id); records are kept',
    default: '60',
  },
  'max-offline': {
    type: 'string',
    description:
      'seconds the link may be down before the running method pauses (resumes when the link is back; 0: never)',
    default: '0',
  },
  'heartbeat-timeout': {
    type: 'string',
    description: 'ms of silence before the link counts as dead',
    default: '2500',
  },
  'max-records': { type: 'string', description: 'outbox bound in records', default: '2000000' },
  'max-bytes': { type: 'string', description: 'outbox bound in bytes', default: String(128 * 1024 * 1024) },
  outbox: {
    type: 'string',
    description: 'directory of a durable outbox that survives a crash or restart (default: in memory)',
  },
  'outbox-sync': {
    type: 'string',
    description: 'always: each record synced to disk before send() returns; batch: at most 100 ms at risk',
    default: 'batch',
  },
  'outbox-max-bytes': {
    type: 'string',
    description: 'durable outbox bound on disk in bytes',
    default: String(1024 * 1024 * 1024),
  },
  'offline-sample-ms': {
    type: 'string',
    description: 'while the link is down keep one sample per tag per this many ms (0: keep all)',
    default: '0',
  },
  'progress-ms': {
    type: 'string',
    description: 'print {"progress":{lastSeq,durableSeq,acked,state}} to stdout this often (0: never)',
    default: '0',
  },
  'print-runs': {
    type: 'boolean',
    description:
      'print {"start":{engineId,epoch,lastSeq}} once, then {"run":{event,runId,t,seq}} for each run start and end',
    default: false,
  },
  ...opcuaOptionSpecs,
  ...inspectOptionSpec,
  'log-level': { type: 'string', description: 'fatal|error|warn|info|debug|trace|silent', default: 'info' },
} satisfies OptionSpecs;

export const engineUsage = helpText(
  'engine-link engine --aggregator ws://127.0.0.1:8080 --id sim-1 --simulate [options]',
  'Runs an engine whose records reach the aggregator exactly once and in order, through outages.\n' +
    'It keeps running whatever its link does (aggregator down, refused, unreachable), keeping every record.\n' +
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
  // Catch-up: a bar on a terminal (log lines clear it and draw it again), plain log lines otherwise.
  const catchUp = new CatchUpProgress();
  const log = createLogger(
    options['log-level'],
    'engine',
    catchUp.isBar ? catchUp.logDestination() : undefined,
  );
  catchUp.setLog(log);
  const inspector = startInspection(options.inspect, log);
  const opcua = await startOpcUa(options, log, inspector?.inspect);
  let engine: SimulatedEngine | undefined;
  const rejectedRetrySeconds = numberOption(options['rejected-retry'], 'rejected-retry', 60, 0.1);
  const maxOfflineSeconds = numberOption(options['max-offline'], 'max-offline', 0, 0);
  // Every option is read before the dispatcher exists: once it does, it holds the process until closed.
  const simulation = {
    rate: numberOption(options.rate, 'rate', 100, 0.001),
    tags: numberOption(options.tags, 'tags', 5, 1),
    runSeconds: numberOption(options['run-seconds'], 'run-seconds', 0, 0),
    failEvery: numberOption(options['fail-every'], 'fail-every', 0, 0),
  };
  const progressMs = numberOption(options['progress-ms'], 'progress-ms', 0, 0);
  const drainMs = numberOption(options['drain-timeout'], 'drain-timeout', 10, 0) * 1000;
  const dispatcher = new ResilientDispatcher({
    snapshot: () => engine?.runs.snapshot(),
    engineId: options.id,
    connector: new WebSocketConnector(options.aggregator ?? 'ws://127.0.0.1:8080', {
      ca: options.ca === undefined ? undefined : readCa(options.ca),
    }),
    token: options.secret ?? process.env.ENGINE_LINK_SECRET,
    heartbeatTimeoutMs: numberOption(options['heartbeat-timeout'], 'heartbeat-timeout', 2500, 100),
    rejectedRetryMs: rejectedRetrySeconds * 1000,
    maxOfflineMs: maxOfflineSeconds * 1000,
    outbox: options.outbox
      ? new DurableOutbox({
          path: options.outbox,
          sync: syncPolicy(options['outbox-sync']),
          maxBytes: numberOption(options['outbox-max-bytes'], 'outbox-max-bytes', 1024 ** 3, 64 * 1024),
        })
      : {
          maxRecords: numberOption(options['max-records'], 'max-records', 2_000_000, 10),
          maxBytes: numberOption(options['max-bytes'], 'max-bytes', 128 * 1024 * 1024, 1024),
        },
    offlineSampleIntervalMs: numberOption(options['offline-sample-ms'], 'offline-sample-ms', 0, 0),
    inspect: inspector?.inspect,
  });
  const outbox = dispatcher.outbox;
  if (outbox instanceof DurableOutbox) {
    const { recovery } = outbox;
    log.info(
      { path: outbox.path, sync: outbox.sync, epoch: outbox.epoch, ...recovery },
      'durable outbox open',
    );
    outbox.on('storage', (info) =>
      info.durable
        ? log.info(info, 'outbox disk usable again: records held in memory written')
        : log.error(
            { err: info.error, heldInMemory: info.heldInMemory },
            'outbox disk failed: holding in memory',
          ),
    );
  }
  const progress =
    progressMs > 0
      ? setInterval(() => {
          const durableSeq = outbox instanceof DurableOutbox ? outbox.durableSeq : undefined;
          const { lastSeq, acked } = dispatcher.stats;
          const line = { progress: { lastSeq, durableSeq, acked, state: dispatcher.state } };
          process.stdout.write(`${JSON.stringify(line)}\n`);
        }, progressMs)
      : undefined;
  // Each change of the link at info, but the round of a retry (waiting, reconnecting, waiting again)
  // only at debug: an outage of an hour is a few lines, not hundreds.
  let previous: string = dispatcher.state;
  dispatcher.on('state', (state) => {
    const retrying = state.startsWith('buffering') && previous.startsWith('buffering');
    previous = state;
    (retrying ? log.debug : log.info).call(log, { state, ...dispatcher.stats }, `link ${state}`);
  });
  // The first retry of an outage says why the link is down (refused, untrusted certificate, ...).
  dispatcher.on('retry', (retry) =>
    (retry.attempt === 1 ? log.warn : log.debug).call(
      log,
      retry,
      `link down (${retry.reason}): the engine keeps running and keeps every record; retrying`,
    ),
  );
  dispatcher.on('gap', (gap) => log.warn(gap, `records that will never come (${gap.reason})`));
  dispatcher.on('backpressure', (info) => log.warn(info, 'outbox over its bound with events only'));
  dispatcher.on('error', (error) =>
    error instanceof AuthRejectedError
      ? log.error({ status: error.status, detail: error.detail }, rejectionMessage(error, options.id!))
      : log.error({ err: error }, error.message),
  );
  dispatcher.on('offlineTooLong', (info) => {
    log.warn(info, `link down for ${maxOfflineSeconds} s (--max-offline): pausing the running method`);
    engine?.pauseForOutage();
  });
  dispatcher.on('onlineAgain', (info) => {
    log.info(info, 'link back after a long outage: resuming the method it paused');
    engine?.resumeAfterOutage();
  });
  showCatchUp(dispatcher, catchUp);
  try {
    engine = new SimulatedEngine(dispatcher, {
      ...simulation,
      ...(options['print-runs']
        ? { onRun: (run) => printLine({ run: { ...run, seq: outbox.lastSeq } }) }
        : {}),
    });
  } catch (error) {
    // A start-up error: nothing was produced; let the process end.
    if (progress) clearInterval(progress);
    await dispatcher.close();
    await opcua?.stop();
    inspector?.stop();
    throw error;
  }
  opcua?.attach(dispatcher);
  dispatcher.handleCommands(opcua ? opcua.withCommands(engine.handleCommand) : engine.handleCommand);
  if (options['print-runs']) {
    const { engineId, epoch, lastSeq } = dispatcher.stats;
    printLine({ start: { engineId, epoch, lastSeq } });
  }
  engine.start();

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  engine.stop();
  await opcua?.stop();
  if (progress) clearInterval(progress);
  log.info({ backlog: dispatcher.stats.backlog, drainMs }, 'stopping: draining the backlog');
  await dispatcher.close({ drainTimeoutMs: drainMs });
  inspector?.stop();
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

/** What a refused engine's user reads: what to fix, in the CLI's own terms, and that nothing is lost. */
function rejectionMessage(error: AuthRejectedError, id: string): string {
  const fix =
    error.status === 400 || error.status === 404
      ? "check --id and --aggregator (the aggregator's ws:// or wss:// address)"
      : `check --secret (or ENGINE_LINK_SECRET), or add engine ${id}'s token to the aggregator's --tokens ` +
        'file and send the aggregator SIGHUP';
  const seconds = Math.round(error.retryInMs / 100) / 10;
  return (
    `the aggregator refused engine ${id} (${error.status}${error.detail ? `: ${error.detail}` : ''}): ${fix}. ` +
    `The engine keeps running and keeps every record; it tries again every ${seconds} s`
  );
}

function syncPolicy(value: string | undefined): 'always' | 'batch' {
  if (value === 'always' || value === 'batch') return value;
  throw new UsageError(`--outbox-sync must be always or batch (got "${value}")`);
}

function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`--ca: cannot read ${path}: ${(error as Error).message}`);
  }
}

function printLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
