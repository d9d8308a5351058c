import { rmSync } from 'node:fs';
import { Aggregator } from '../aggregator/aggregator.ts';
import { AGGREGATOR_DEFAULTS } from '../aggregator/aggregatorDefaults.ts';
import { type AggregatorServer, ListenError, startAggregatorServer } from '../aggregator/server.ts';
import { SqliteStore } from '../aggregator/store/sqliteStore.ts';
import { lockStore, StoreOpenError, storeAt } from '../aggregator/store/storeFile.ts';
import { dashboardRoutes } from '../dashboard/dashboardRoutes.ts';
import { ResilientDispatcher } from '../engine/resilientDispatcher.ts';
import { SimulatedEngine } from '../engine/simulatedEngine.ts';
import type { MachineInspector } from '../inspect/machineInspector.ts';
import { FaultProxy } from '../transport/faultProxy.ts';
import { WebSocketConnector } from '../transport/webSocketTransport.ts';
import { type OptionSpecs, parseOptions, StartupError, UsageError } from './args.ts';
import { demoPump } from './demoHardware.ts';
import { helpText } from './helpText.ts';
import { inspectOptionSpec, inspectUrl, startInspection } from './inspectOption.ts';
import { createLogger } from './logger.ts';
import { StopSignals } from './stopSignals.ts';

/** The demo's options: every rule and default in one place (help and checks come from here). */
export const specs = {
  port: {
    kind: 'port',
    min: 0,
    description: 'aggregator port (0: any free port)',
    default: AGGREGATOR_DEFAULTS.port,
  },
  db: {
    kind: 'path',
    role: 'output-file',
    description: "the demo's SQLite store, deleted and made anew at every start (only ever a store)",
    default: './data/demo.db',
  },
  duration: {
    kind: 'duration',
    unit: 's',
    min: 0,
    description: 'run this long (0: until Ctrl-C)',
    default: 0,
  },
  rate: {
    kind: 'number',
    min: 1,
    max: 10_000,
    unit: 'samples/s',
    description: 'samples per second per engine',
    default: 50,
  },
  ...inspectOptionSpec,
} satisfies OptionSpecs;

export const demoUsage = helpText(
  'engine-link demo [--port 8080] [--duration 0] [--rate 50]',
  'An aggregator with an embedded SQLite store (on 127.0.0.1) and two simulated engines, sim-1 and sim-2,\n' +
    'linked through a fault proxy that, every 8 s, refuses every connection for 4 s (cutting those open),\n' +
    'then black-holes the link for 6 s (half-open: nobody is told). The engines run 20 s methods back to\n' +
    "back, every third one failing; each reads a simulated pump, and sim-2's loses its cable for 8 s now\n" +
    'and then. Prints link states as they change. The dashboard is served at / (it sends commands too).\n' +
    'Stops after --duration, or on Ctrl-C: the engines drain their backlog (up to 15 s; Ctrl-C again stops\n' +
    'waiting), then it prints per engine the records produced against those persisted, and exits 0 when\n' +
    'every record was persisted exactly once and in order, 1 otherwise.',
  specs,
);

/**
 * The store (made anew), the aggregator, its server and the flaky link in front of it; a failure on the
 * way (the port in use, say) closes what was opened and is one line of explanation.
 */
async function openDemo(db: string, port: number, inspector: MachineInspector | undefined) {
  let aggregator: Aggregator | undefined;
  let server: AggregatorServer | undefined;
  let proxy: FaultProxy | undefined;
  try {
    // Not while another demo or aggregator uses it.
    const lock = lockStore(db);
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${db}${suffix}`, { force: true });
    lock.close();
    const store = new SqliteStore(db);
    aggregator = new Aggregator({ store, inspect: inspector?.inspect });
    server = await startAggregatorServer({ aggregator, port, routes: dashboardRoutes(aggregator) });
    proxy = new FaultProxy({ host: '127.0.0.1', port: server.port });
    const flaky = await proxy.start();
    return { store, aggregator, server, proxy, flaky };
  } catch (error) {
    await proxy?.close();
    await server?.close();
    await aggregator?.close();
    inspector?.stop();
    if (error instanceof StoreOpenError || error instanceof ListenError)
      throw new StartupError(error.message);
    throw error;
  }
}

const time = () => new Date().toISOString().slice(11, 23);
const say = (line: string) => process.stdout.write(`${time()}  ${line}\n`);

export async function demoCommand(argv: string[]): Promise<number> {
  const options = parseOptions(argv, specs);
  if (options.help) {
    process.stdout.write(demoUsage);
    return 0;
  }
  // Everything given is checked before anything is created or opened; the store is only ever replaced
  // when it is one (another application's file is never deleted).
  const db = options.db;
  const inspect = inspectUrl(options.inspect);
  if (storeAt(db) === 'foreign')
    throw new UsageError(
      `--db ${db} is not an engine-link store: the demo deletes its store at start; give it another file`,
    );
  const inspector = startInspection(inspect, createLogger('info', 'demo'));
  const { store, aggregator, server, proxy, flaky } = await openDemo(db, options.port, inspector);
  aggregator.on('engineState', (change) =>
    say(
      `aggregator  ${change.engineId.padEnd(6)} ${change.link}${change.reason ? ` (${change.reason})` : ''}`,
    ),
  );
  say(`aggregator listening on ${server.url}  (try: curl ${server.url}/api/engines)`);
  say(`dashboard: ${server.url}/`);
  say(`engines connect through a flaky link at ws://127.0.0.1:${flaky.port}`);

  const rate = options.rate;
  const engines = ['sim-1', 'sim-2'].map((engineId) => {
    let engine: SimulatedEngine | undefined;
    const dispatcher = new ResilientDispatcher({
      engineId,
      snapshot: () => engine?.runs.snapshot(),
      connector: new WebSocketConnector(`ws://127.0.0.1:${flaky.port}`, { handshakeTimeoutMs: 2000 }),
      connectTimeoutMs: 2000,
      inspect: inspector?.inspect,
    });
    dispatcher.on('state', (state) =>
      say(`engine      ${engineId.padEnd(6)} ${state.padEnd(32)} backlog ${dispatcher.stats.backlog}`),
    );
    dispatcher.on('flushProgress', ({ sent, total }) => {
      if (sent === total) say(`engine      ${engineId.padEnd(6)} caught up: ${total} records replayed`);
    });
    // Methods of 20 s back to back; every third fails. Commands (start, stop, ...) work from the dashboard.
    engine = new SimulatedEngine(dispatcher, { rate, tags: 3, runSeconds: 20, failEvery: 3 });
    dispatcher.handleCommands(engine.handleCommand);
    engine.start();
    const pump = demoPump(dispatcher, { inspect: inspector?.inspect });
    pump.recovery.on('state', ({ to }) => say(`engine      ${engineId.padEnd(6)} hardware pump ${to}`));
    return { engineId, dispatcher, engine, pump };
  });
  // Now and then sim-2's pump loses its cable: its hardware link goes to issue, reconnect, then ok again.
  const brokenPump = engines[1]!.pump;
  let pumpTimer: NodeJS.Timeout | undefined;
  const nextPumpFault = (delayMs: number) => {
    pumpTimer = setTimeout(() => {
      say('--- fault: sim-2 pump cable pulled for 8 s');
      brokenPump.setBroken(true);
      pumpTimer = setTimeout(() => {
        say('--- sim-2 pump cable back');
        brokenPump.setBroken(false);
        nextPumpFault(37_000);
      }, 8000);
    }, delayMs);
  };
  nextPumpFault(20_000);

  const faults = [
    { name: 'cut every connection', start: () => proxy.refuse(), ms: 4000 },
    { name: 'black-hole the link (half-open: nobody is told)', start: () => proxy.blackhole(), ms: 6000 },
  ];
  let faultIndex = 0;
  let faultTimer: NodeJS.Timeout | undefined;
  const nextFault = () => {
    faultTimer = setTimeout(() => {
      const fault = faults[faultIndex++ % faults.length]!;
      say(`--- fault: ${fault.name} for ${fault.ms / 1000} s`);
      fault.start();
      faultTimer = setTimeout(() => {
        say('--- link restored');
        proxy.restore();
        nextFault();
      }, fault.ms);
    }, 8000);
  };
  nextFault();

  const duration = options.duration;
  const signals = new StopSignals(say, 'not waiting for the backlog any longer');
  let durationTimer: NodeJS.Timeout | undefined;
  await Promise.race([
    signals.first,
    new Promise<void>((resolve) => {
      if (duration > 0) durationTimer = setTimeout(resolve, duration);
    }),
  ]);
  clearTimeout(durationTimer);
  clearTimeout(faultTimer);
  clearTimeout(pumpTimer);
  proxy.restore();
  say('stopping: engines drain their backlog (up to 15 s)');
  for (const { engine } of engines) engine.stop();
  await Promise.all(engines.map(({ pump }) => pump.stop()));
  // Each engine says goodbye; wait (briefly) until the aggregator has heard it before closing the link.
  const saidGoodbye = new Promise<void>((resolve) => {
    const check = () => {
      if (engines.every(({ engineId }) => aggregator.engine(engineId)?.link === 'offline')) resolve();
    };
    aggregator.on('engineState', check);
    setTimeout(resolve, 2000).unref();
  });
  await Promise.race([
    Promise.all(engines.map(({ dispatcher }) => dispatcher.drain(15_000))),
    signals.second,
  ]);
  await Promise.all(engines.map(({ dispatcher }) => dispatcher.close()));
  await saidGoodbye;
  signals.dispose();
  let ok = true;
  for (const { engineId, dispatcher } of engines) {
    const produced = dispatcher.stats.produced;
    const stored = store.records(engineId, { epoch: dispatcher.stats.epoch });
    const inOrder = stored.every((r, i) => r.seq === i + 1);
    say(`${engineId}: produced ${produced}, persisted ${stored.length}, in order: ${inOrder ? 'yes' : 'NO'}`);
    ok &&= stored.length === produced && inOrder;
  }
  await proxy.close();
  await server.close();
  await aggregator.close();
  inspector?.stop();
  say(ok ? 'every record persisted exactly once, in order' : 'MISMATCH: see the lines above');
  return ok ? 0 : 1;
}
