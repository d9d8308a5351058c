// Fan-in over a fleet: <engines> engines at 10 samples/s each, in two worker processes, each worker's
// engines on one of two aggregator nodes (each its own process, BENCH_FLEET_NODE node-1 and node-2) on the
// PostgreSQL database BENCH_POSTGRES_URL names. Over a window of <seconds> each node reports its CPU and the
// ingest latency (engine time stamp → committed); the fleet's p99 is the worse node's. Prints one JSON line.
// Args: <engines> <seconds>
import { type ServerHandle, sleep, startServer } from '../support.ts';

const [enginesArg, secondsArg] = process.argv.slice(2) as [string, string];
const engines = Number(enginesArg);
const seconds = Number(secondsArg ?? 10);
const here = import.meta.dirname;

const nodes: ServerHandle[] = [];
for (const name of ['node-1', 'node-2']) {
  process.env.BENCH_FLEET_NODE = name;
  nodes.push(await startServer(`${here}/../servers/linkAggregator.ts`));
}
delete process.env.BENCH_FLEET_NODE;
const per = Math.ceil(engines / 2);
const workers = await Promise.all(
  nodes.map((node, w) =>
    startServer(`${here}/fanInEngines.ts`, [
      'engine-link',
      String(node.ready.port),
      String(Math.min(per, engines - w * per)),
      String(w * per),
    ]),
  ),
);
const up = async () =>
  (await Promise.all(nodes.map((node) => node.request<{ up: number }>({ op: 'engines' })))).reduce(
    (sum, answer) => sum + answer.up,
    0,
  );
let connected = 0;
for (let i = 0; i < 300 && connected < engines; i++) {
  connected = await up();
  if (connected < engines) await sleep(100);
}
if (connected < engines) throw new Error(`fleet: only ${connected} of ${engines} engines connected`);
await Promise.all(workers.map((w) => w.request({ op: 'start' })));
await sleep(2000); // warm-up
await Promise.all(nodes.map((node) => node.request({ op: 'window-start' })));
await sleep(seconds * 1000);
const windows = await Promise.all(
  nodes.map((node) =>
    node.request<{ cpuPercent: number; seconds: number; records: number; p50: number; p99: number }>({
      op: 'window-stop',
    }),
  ),
);
await Promise.all(workers.map((w) => w.request({ op: 'stop' })));
await Promise.all(workers.map((w) => w.stop()));
for (const node of nodes) await node.stop();
const records = windows.reduce((sum, w) => sum + w.records, 0);
process.stdout.write(
  `${JSON.stringify({
    engines,
    perSecond: records / Math.max(...windows.map((w) => w.seconds)),
    p50: Math.max(...windows.map((w) => w.p50)),
    p99: Math.max(...windows.map((w) => w.p99)),
    cpuPercent: windows.map((w) => Math.round(w.cpuPercent)),
  })}\n`,
);
process.exit(0);
