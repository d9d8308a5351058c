// <count> simulated engines (ResilientDispatchers over real WebSockets) in one process, each producing
// 10 samples/s once told to start: sample values count 0, 1, 2, ... per engine, so that the store can be
// checked for every value exactly once. The sends are spread evenly over each 100 ms, and a late timer
// catches up, so that the rate holds on average however busy the process is.
// Tells the parent `allConnected` once every engine has been connected at least once.
// Args: <port> <count> <firstIndex> <seed>
import { ResilientDispatcher } from '../../../src/engine/resilientDispatcher.ts';
import { WebSocketConnector } from '../../../src/transport/webSocketTransport.ts';
import { seededRandom } from '../../support/seededRandom.ts';
import { serveParent, tellParent } from './ipc.ts';

const [port, countArg, firstArg, seedArg] = process.argv.slice(2) as [string, string, string, string];
const count = Number(countArg);
const first = Number(firstArg);
const TICK_MS = 10;
const SLOTS = 10; // each engine sends on one tick in ten: 10 samples/s

const connector = new WebSocketConnector(`ws://127.0.0.1:${port}`, { handshakeTimeoutMs: 5000 });
const engines: ResilientDispatcher[] = [];
const produced: number[] = [];
let everConnected = 0;
for (let i = 0; i < count; i++) {
  const engine = new ResilientDispatcher({
    engineId: `load-${first + i}`,
    connector,
    random: seededRandom(Number(seedArg) * 100_000 + i),
    connectTimeoutMs: 5000,
  });
  let seen = false;
  engine.on('state', (state) => {
    if (state !== 'connected' || seen) return;
    seen = true;
    if (++everConnected === count) tellParent('allConnected');
  });
  engines.push(engine);
  produced.push(0);
}

let timer: NodeJS.Timeout | undefined;
let started = 0;
let ticks = 0;
function produceDue(): void {
  const due = Math.floor((performance.now() - started) / TICK_MS);
  for (; ticks < due; ticks++) {
    const slot = ticks % SLOTS;
    const t = Date.now();
    for (let i = slot; i < engines.length; i += SLOTS)
      engines[i]!.send({ kind: 'sample', tag: `line${i % 4}.temp`, value: produced[i]!++, unit: 'degC', t });
  }
}

serveParent(async (request) => {
  switch (request.op) {
    case 'start':
      started = performance.now();
      timer = setInterval(produceDue, TICK_MS);
      return {};
    case 'status': {
      const states: Record<string, number> = {};
      let maxBacklog = 0;
      for (const engine of engines) {
        states[engine.state] = (states[engine.state] ?? 0) + 1;
        maxBacklog = Math.max(maxBacklog, engine.stats.backlog);
      }
      return { states, maxBacklog, produced: produced.reduce((a, b) => a + b, 0) };
    }
    case 'stop':
      clearInterval(timer);
      return {};
    case 'drain': {
      const drained = await Promise.all(engines.map((e) => e.drain(Number(request.timeoutMs))));
      return {
        drained: drained.filter(Boolean).length,
        stats: engines.map((e) => e.stats),
      };
    }
    case 'close':
      await Promise.all(engines.map((e) => e.close()));
      return {};
    default:
      throw new Error(`unknown request ${request.op}`);
  }
});
