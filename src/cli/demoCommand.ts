import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Aggregator } from '../aggregator/aggregator.ts';
import { startAggregatorServer } from '../aggregator/server.ts';
import { SqliteStore } from '../aggregator/sqliteStore.ts';
import { dashboardRoutes } from '../dashboard/dashboardRoutes.ts';
import { ResilientDispatcher } from '../engine/resilientDispatcher.ts';
import { SimulatedEngine } from '../engine/simulatedEngine.ts';
import { FaultProxy } from '../transport/faultProxy.ts';
import { WebSocketConnector } from '../transport/webSocketTransport.ts';
import { helpText, numberOption, type OptionSpecs, parseOptions } from './args.ts';
import { demoPump } from './demoHardware.ts';
import { inspectOptionSpec, startInspection } from './inspectOption.ts';
import { createLogger } from './logger.ts';

const specs = {
  port: { type: 'string', description: 'aggregator port (0: any free port)', default: '8080' },
  db: { type: 'string', description: 'SQLite file (recreated on start)', default: './data/demo.db' },
  duration: { type: 'string', description: 'seconds to run (0: until Ctrl-C)', default: '0' },
  rate: { type: 'string', description: 'samples per second per engine', default: '50' },
  ...inspectOptionSpec,
} satisfies OptionSpecs;

export const demoUsage = helpText(
  'engine-link demo [--port 8080] [--duration 60]',
  'An aggregator with an embedded SQLite store, two simulated engines, and a link between them that fails\n' +
    'now and then (cut, then black-holed). Prints link states as they change and, at the end, what each\n' +
    'engine produced against what the aggregator persisted. Each engine reads a simulated pump, and\n' +
    "sim-2's pump loses its cable now and then. The dashboard is served at /.",
  specs,
);

const time = () => new Date().toISOString().slice(11, 23);
const say = (line: string) => process.stdout.write(`${time()}  ${line}\n`);

export async function demoCommand(argv: string[]): Promise<number> {
  const options = parseOptions(argv, specs);
  if (options.help) {
    process.stdout.write(demoUsage);
    return 0;
  }
  const db = options.db ?? './data/demo.db';
  mkdirSync(dirname(db), { recursive: true });
  const { rmSync } = await import('node:fs');
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${db}${suffix}`, { force: true });

  const inspector = startInspection(options.inspect, createLogger('info', 'demo'));
  const store = new SqliteStore(db);
  const aggregator = new Aggregator({ store, inspect: inspector?.inspect });
  aggregator.on('engineState', (change) =>
    say(
      `aggregator  ${change.engineId.padEnd(6)} ${change.link}${change.reason ? ` (${change.reason})` : ''}`,
    ),
  );
  const server = await startAggregatorServer({
    aggregator,
    port: numberOption(options.port, 'port', 8080, 0),
    routes: dashboardRoutes(aggregator),
  });
  const proxy = new FaultProxy({ host: '127.0.0.1', port: server.port });
  const flaky = await proxy.start();
  say(`aggregator listening on ${server.url}  (try: curl ${server.url}/api/engines)`);
  say(`dashboard: ${server.url}/`);
  say(`engines connect through a flaky link at ws://127.0.0.1:${flaky.port}`);

  const rate = numberOption(options.rate, 'rate', 50, 1);
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

  const duration = numberOption(options.duration, 'duration', 0, 0);
  await new Promise<void>((resolve) => {
    if (duration > 0) setTimeout(resolve, duration * 1000);
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
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
  await Promise.all(engines.map(({ dispatcher }) => dispatcher.close({ drainTimeoutMs: 15_000 })));
  await saidGoodbye;
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
