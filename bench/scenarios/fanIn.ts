// Fan-in: <engines> engines at 10 samples/s each, in two worker processes, into one server in its own
// process. Over a window of <seconds> the server reports its CPU (process.cpuUsage, as a share of one
// core), event-loop use, and the ingest latency from the engine's time stamp to persisted (committed to
// SQLite; the alternatives' servers store into the same schema with a group commit). Prints one JSON line.
// Args: <system> <engines> <seconds>
import type { SystemName } from '../alternatives/senders.ts';
import { serverFor } from '../alternatives/senders.ts';
import { type ServerHandle, sleep, startServer } from '../support.ts';

const [system, enginesArg, secondsArg] = process.argv.slice(2) as [SystemName, string, string];
const engines = Number(enginesArg);
const seconds = Number(secondsArg ?? 10);
const WORKERS = 2;
const here = import.meta.dirname;

const server = await startServer(
  `${here}/../servers/${serverFor(system)}.ts`,
  system === 'engine-link' ? [] : ['--persist'],
);
const port = String(server.ready.port);
const per = Math.ceil(engines / WORKERS);
const workers: ServerHandle[] = await Promise.all(
  Array.from({ length: WORKERS }, (_, w) =>
    startServer(`${here}/fanInEngines.ts`, [
      system,
      port,
      String(Math.min(per, engines - w * per)),
      String(w * per),
    ]),
  ),
);
let upCount = 0;
const engineCount = async () => {
  upCount = (await server.request<{ up: number }>({ op: 'engines' })).up;
};
for (let i = 0; i < 300 && upCount < engines; i++) {
  await engineCount();
  if (upCount < engines) await sleep(100);
}
if (upCount < engines) throw new Error(`${system}: only ${upCount} of ${engines} engines connected`);
await Promise.all(workers.map((w) => w.request({ op: 'start' })));
await sleep(2000); // warm-up
await server.request({ op: 'window-start' });
await sleep(seconds * 1000);
const window = await server.request<{
  cpuPercent: number;
  eventLoopUtilization: number;
  seconds: number;
  records: number;
  p50: number;
  p99: number;
  max: number;
}>({ op: 'window-stop' });
await Promise.all(workers.map((w) => w.request({ op: 'stop' })));
await Promise.all(workers.map((w) => w.stop()));
await server.stop();
process.stdout.write(
  `${JSON.stringify({ system, engines, ...window, perSecond: window.records / window.seconds })}\n`,
);
process.exit(0);
