import { readFileSync } from 'node:fs';
import { DurableOutbox } from '../engine/durableOutbox.ts';
import { DEFAULT_OUTBOX_LIMITS } from '../engine/memoryOutbox.ts';
import { OutboxInUseError } from '../engine/outboxLock.ts';
import { OutboxOwnerError } from '../engine/outboxOwner.ts';
import { AuthRejectedError, ResilientDispatcher } from '../engine/resilientDispatcher.ts';
import { MAX_SIMULATED_RATE, MAX_SIMULATED_TAGS, SimulatedEngine } from '../engine/simulatedEngine.ts';
import { ENGINE_ID_PATTERN, ENGINE_ID_RULE } from '../protocol/engineId.ts';
import { WebSocketConnector } from '../transport/webSocketTransport.ts';
import {
  type OptionSpecs,
  parseOptions,
  StartupError,
  secretOptions,
  secretWarnings,
  UsageError,
} from './args.ts';
import { helpText } from './helpText.ts';
import { inspectOptionSpec, inspectUrl, startInspection } from './inspectOption.ts';
import { createLogger, logLevelSpec } from './logger.ts';
import { opcUaSettings, opcuaOptionSpecs, startOpcUa } from './opcuaOption.ts';
import { CatchUpProgress, showCatchUp } from './progress.ts';
import { StopSignals } from './stopSignals.ts';

/** The engine's options: every rule and default in one place (help and checks come from here). */
export const specs = {
  aggregator: {
    kind: 'url',
    protocols: ['ws:', 'wss:'],
    description: "the aggregator's URL (wss:// when it serves TLS)",
    default: 'ws://127.0.0.1:8080',
  },
  id: { kind: 'text', pattern: ENGINE_ID_PATTERN, rule: ENGINE_ID_RULE, description: 'engine id (required)' },
  ...secretOptions('secret', 'token presented to the aggregator', 'ENGINE_LINK_SECRET'),
  ca: {
    kind: 'path',
    role: 'input-file',
    description: 'PEM file of the certificate(s) to trust for a wss:// aggregator',
  },
  simulate: { kind: 'flag', description: 'produce simulated samples (required)' },
  rate: {
    kind: 'number',
    min: 0,
    aboveMin: true,
    max: MAX_SIMULATED_RATE,
    unit: 'records/s',
    description: 'sample records per second',
    default: 100,
  },
  tags: {
    kind: 'integer',
    min: 1,
    max: MAX_SIMULATED_TAGS,
    unit: 'tags',
    description: 'number of simulated tags',
    default: 5,
  },
  'run-seconds': {
    kind: 'duration',
    unit: 's',
    min: 0,
    description: 'length of each simulated method run; 0: runs start only on a start command',
    default: 0,
  },
  'fail-every': {
    kind: 'integer',
    min: 0,
    max: 1_000_000,
    unit: 'n',
    description: 'every Nth run fails (0: none)',
    default: 0,
  },
  'drain-timeout': {
    kind: 'duration',
    unit: 's',
    min: 0,
    description:
      'on SIGINT/SIGTERM, wait this long for the backlog to be acknowledged (a second signal stops waiting)',
    default: 10,
  },
  'rejected-retry': {
    kind: 'duration',
    unit: 's',
    min: 0.1,
    description:
      'while the aggregator refuses this engine (its token or id), try again this often; records are kept',
    default: 60,
  },
  'max-offline': {
    kind: 'duration',
    unit: 's',
    min: 0,
    description:
      'the link may be down this long before the running method pauses (resumes when the link is back; 0: never)',
    default: 0,
  },
  'heartbeat-timeout': {
    kind: 'duration',
    unit: 'ms',
    min: 100,
    description: 'silence before the link counts as dead',
    default: 2500,
  },
  'max-records': {
    kind: 'integer',
    min: 10,
    max: Number.MAX_SAFE_INTEGER,
    unit: 'records',
    conflicts: 'outbox',
    description: 'in-memory outbox bound in records',
    default: DEFAULT_OUTBOX_LIMITS.maxRecords,
  },
  'max-bytes': {
    kind: 'integer',
    min: 1024,
    max: Number.MAX_SAFE_INTEGER,
    unit: 'bytes',
    conflicts: 'outbox',
    description: 'in-memory outbox bound in bytes',
    default: DEFAULT_OUTBOX_LIMITS.maxBytes,
  },
  outbox: {
    kind: 'path',
    role: 'directory',
    description: 'directory of a durable outbox that survives a crash or restart (default: in memory)',
  },
  'outbox-sync': {
    kind: 'enum',
    values: ['always', 'batch'],
    requires: 'outbox',
    description: 'always: each record synced to disk before send() returns; batch: at most 100 ms at risk',
    default: 'batch',
  },
  'outbox-max-bytes': {
    kind: 'integer',
    min: 64 * 1024,
    max: Number.MAX_SAFE_INTEGER,
    unit: 'bytes',
    requires: 'outbox',
    description: 'durable outbox bound on disk in bytes',
    default: 1024 * 1024 * 1024,
  },
  'offline-sample-ms': {
    kind: 'duration',
    unit: 'ms',
    min: 0,
    description: 'while the link is down keep one sample per tag per this many ms (0: keep all)',
    default: 0,
  },
  'progress-ms': {
    kind: 'duration',
    unit: 'ms',
    min: 0,
    description: 'print {"progress":{lastSeq,durableSeq,acked,state}} to stdout this often (0: never)',
    default: 0,
  },
  'print-runs': {
    kind: 'flag',
    description:
      'print {"start":{engineId,epoch,lastSeq}} once, then {"run":{event,runId,t,seq}} for each run start and end',
  },
  ...opcuaOptionSpecs,
  ...inspectOptionSpec,
  'log-level': logLevelSpec,
} satisfies OptionSpecs;

export const engineUsage = helpText(
  'engine-link engine --aggregator ws://127.0.0.1:8080 --id sim-1 --simulate [options]',
  'Runs an engine whose records reach the aggregator exactly once and in order, through outages.\n' +
    'It keeps running whatever its link does (aggregator down, refused, unreachable), keeping every record.\n' +
    'On SIGINT/SIGTERM it stops producing, waits for the backlog (a second signal stops waiting), says\n' +
    'goodbye to the aggregator, and prints one JSON line with its counts.',
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
  if (options.ca !== undefined && !options.aggregator.startsWith('wss:'))
    throw new UsageError('--ca needs a wss:// --aggregator; with ws:// it would be ignored');
  // Everything given is checked, and every file read, before anything is created or opened.
  const inspect = inspectUrl(options.inspect);
  const opcuaSettings = opcUaSettings(options);
  const ca = options.ca === undefined ? undefined : readCa(options.ca);
  // Catch-up: a bar on a terminal (log lines clear it and draw it again), plain log lines otherwise.
  const catchUp = new CatchUpProgress();
  const log = createLogger(
    options['log-level'],
    'engine',
    catchUp.isBar ? catchUp.logDestination() : undefined,
  );
  catchUp.setLog(log);
  for (const warning of secretWarnings(specs, options.given)) log.warn(warning);
  const outboxDir = options.outbox;
  const durable = outboxDir === undefined ? undefined : openOutbox(outboxDir, options.id, options);
  const inspector = startInspection(inspect, log);
  let opcua: Awaited<ReturnType<typeof startOpcUa>>;
  try {
    opcua = await startOpcUa(opcuaSettings, log, inspector?.inspect);
  } catch (error) {
    // What was opened is closed: the process exits with its one line.
    await durable?.close();
    inspector?.stop();
    throw error;
  }
  let engine: SimulatedEngine | undefined;
  const dispatcher = new ResilientDispatcher({
    snapshot: () => engine?.runs.snapshot(),
    engineId: options.id,
    connector: new WebSocketConnector(options.aggregator, { ca }),
    token: options.secret,
    heartbeatTimeoutMs: options['heartbeat-timeout'],
    rejectedRetryMs: options['rejected-retry'],
    maxOfflineMs: options['max-offline'],
    outbox: durable ?? { maxRecords: options['max-records'], maxBytes: options['max-bytes'] },
    offlineSampleIntervalMs: options['offline-sample-ms'] || undefined,
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
  const progressMs = options['progress-ms'];
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
    log.warn(
      info,
      `link down for ${options['max-offline'] / 1000} s (--max-offline): pausing the running method`,
    );
    engine?.pauseForOutage();
  });
  dispatcher.on('onlineAgain', (info) => {
    log.info(info, 'link back after a long outage: resuming the method it paused');
    engine?.resumeAfterOutage();
  });
  showCatchUp(dispatcher, catchUp);
  try {
    engine = new SimulatedEngine(dispatcher, {
      rate: options.rate,
      tags: options.tags,
      runSeconds: options['run-seconds'] / 1000,
      failEvery: options['fail-every'],
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
  const drainMs = options['drain-timeout'];

  const signals = new StopSignals(
    (line) => log.warn({ backlog: dispatcher.stats.backlog }, line),
    'not waiting for the backlog any longer: saying goodbye to the aggregator and stopping now',
  );
  await signals.first;
  engine.stop();
  await opcua?.stop();
  if (progress) clearInterval(progress);
  log.info({ backlog: dispatcher.stats.backlog, drainMs }, 'stopping: draining the backlog');
  // A second signal cuts the wait short; the goodbye still goes out (the aggregator shows the engine
  // offline, not unavailable), and the summary line says what was left unacknowledged.
  const drained = await Promise.race([dispatcher.drain(drainMs), signals.second.then(() => false)]);
  await dispatcher.close();
  signals.dispose();
  inspector?.stop();
  if (!drained) {
    const left = dispatcher.stats.backlog;
    log.warn(
      { backlog: left },
      left === 0
        ? 'stopped before the backlog was confirmed drained'
        : durable
          ? `stopped with ${left} records not acknowledged: they stay in the durable outbox and go out at the next start`
          : `stopped with ${left} records not acknowledged: held in memory only, they are lost`,
    );
  }
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
      : `check --secret (or --secret-file, ENGINE_LINK_SECRET), or add engine ${id}'s token to the aggregator's --tokens ` +
        'file and send the aggregator SIGHUP';
  const seconds = Math.round(error.retryInMs / 100) / 10;
  return (
    `the aggregator refused engine ${id} (${error.status}${error.detail ? `: ${error.detail}` : ''}): ${fix}. ` +
    `The engine keeps running and keeps every record; it tries again every ${seconds} s`
  );
}

/** Opens the durable outbox; what keeps it from opening (in use, another engine's, unwritable) is one line. */
function openOutbox(
  path: string,
  engineId: string,
  options: { 'outbox-sync': string; 'outbox-max-bytes': number },
): DurableOutbox {
  try {
    return new DurableOutbox({
      path,
      engineId,
      sync: options['outbox-sync'] as 'always' | 'batch',
      maxBytes: options['outbox-max-bytes'],
    });
  } catch (error) {
    if (error instanceof OutboxInUseError || error instanceof OutboxOwnerError)
      throw new StartupError(error.message);
    throw new StartupError(`cannot open the outbox ${path}: ${(error as Error).message}`);
  }
}

function readCa(path: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (error) {
    throw new UsageError(`--ca: cannot read ${path}: ${(error as Error).message}`);
  }
  if (!pem.includes('-----BEGIN ')) throw new UsageError(`--ca: ${path} is not a PEM file`);
  return pem;
}

function printLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
