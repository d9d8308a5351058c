import { readFileSync } from 'node:fs';
import { EngineMetrics } from '../engine/engineMetrics.ts';
import { DurableOutbox } from '../engine/outbox/durable/durableOutbox.ts';
import { OutboxInUseError } from '../engine/outbox/durable/outboxLock.ts';
import { OutboxOwnerError } from '../engine/outbox/durable/outboxOwner.ts';
import { AuthRejectedError, ResilientDispatcher } from '../engine/resilientDispatcher.ts';
import { SimulatedEngine } from '../engine/simulatedEngine.ts';
import { FailoverConnector, webSocketConnectorFor } from '../transport/failoverConnector.ts';
import { parseOptions, StartupError, secretWarnings, UsageError } from './args.ts';
import { engineSpecs, engineUsage } from './engineOptions.ts';
import { inspectUrl, startInspection } from './inspectOption.ts';
import { createLogger } from './logger.ts';
import { type MetricsServer, processMetrics, startMetricsServer } from './metricsServer.ts';
import { opcUaSettings, startOpcUa } from './opcuaOption.ts';
import { listEntries } from './optionValues.ts';
import { CatchUpProgress, showCatchUp } from './progress.ts';
import { StopSignals } from './stopSignals.ts';

export async function engineCommand(argv: string[]): Promise<number> {
  const options = parseOptions(argv, engineSpecs);
  if (options.help) {
    process.stdout.write(engineUsage);
    return 0;
  }
  if (!options.id) throw new UsageError('--id is required');
  if (!options.simulate)
    throw new UsageError('--simulate is required: this build has no driver for real hardware engines');
  const aggregators = listEntries(options.aggregator);
  if (options.ca !== undefined && !aggregators.some((url) => url.startsWith('wss:')))
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
  for (const warning of secretWarnings(engineSpecs, options.given)) log.warn(warning);
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
  const connector = webSocketConnectorFor(aggregators, { ca });
  const dispatcher = new ResilientDispatcher({
    snapshot: () => engine?.runs.snapshot(),
    engineId: options.id,
    connector,
    token: options.secret,
    heartbeatTimeoutMs: options['heartbeat-timeout'],
    rejectedRetryMs: options['rejected-retry'],
    maxOfflineMs: options['max-offline'],
    outbox: durable ?? { maxRecords: options['max-records'], maxBytes: options['max-bytes'] },
    offlineSampleIntervalMs: options['offline-sample-ms'] || undefined,
    inspect: inspector?.inspect,
  });
  const outbox = dispatcher.outbox;
  if (connector instanceof FailoverConnector)
    log.info({ aggregators: connector.urls }, `${connector.urls.length} aggregators, tried in this order`);
  let metrics: MetricsServer | undefined;
  if (options['metrics-port'] !== undefined) {
    try {
      metrics = await startMetricsServer(processMetrics(new EngineMetrics(dispatcher)), {
        host: options['metrics-host'],
        port: options['metrics-port'],
      });
    } catch (error) {
      await dispatcher.close();
      await opcua?.stop();
      inspector?.stop();
      throw error;
    }
    log.info({ url: metrics.url }, `metrics: ${metrics.url}`);
  }
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
    await metrics?.close();
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
  await metrics?.close();
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
