// Live throughput of one system: records/s from the engine's send() to acknowledged by the other side
// (engine-link: persisted in SQLite; the others: received), the server in its own process. Also the time
// spent inside send(), and the CPU per record of the engine process and of the server process (all its
// threads). Prints one JSON line.
// Args: <system> <records>
import { createSender, type SystemName, serverFor } from '../alternatives/senders.ts';
import { nextTick, plainSample, type ServerHandle, sleep, startServer } from '../support.ts';

const system = process.argv[2] as SystemName;
const records = Number(process.argv[3] ?? 200_000);
const WARM_UP = 20_000;
/** MQTT's packet identifiers are 16 bits: more than 65,535 unacknowledged QoS 1 messages overwrite each other. */
const MAX_OUTSTANDING = system === 'mqtt-qos1' ? 20_000 : Number.POSITIVE_INFINITY;
const SLICE = 5000;

const here = import.meta.dirname;
const server: ServerHandle = await startServer(`${here}/../servers/${serverFor(system)}.ts`);
const id = `live-${process.pid}`;
const sender = createSender(system, { port: Number(server.ready.port), id });
await new Promise<void>((resolve) => sender.onLink((up) => up && resolve()));

/** Records acknowledged: the sender's count, or for fire-and-forget the server's. */
async function delivered(): Promise<number> {
  if (system !== 'socketio-faf') return sender.acked();
  return (await server.request<{ received: number }>({ op: 'count', id })).received;
}

let produced = 0;
let sendNs = 0;
async function produce(n: number): Promise<void> {
  const target = produced + n;
  while (produced < target) {
    while (sender.outstanding() > MAX_OUTSTANDING) await sleep(1);
    const slice = Math.min(SLICE, target - produced);
    const t = Date.now();
    const started = process.hrtime.bigint();
    for (let i = 0; i < slice; i++) sender.send(plainSample(produced + i, t));
    sendNs += Number(process.hrtime.bigint() - started);
    produced += slice;
    await nextTick();
  }
  while ((await delivered()) < target) await sleep(system === 'socketio-faf' ? 20 : 1);
}

await produce(WARM_UP);
sendNs = 0;
await server.request({ op: 'window-start' });
const cpuBefore = process.cpuUsage();
const started = performance.now();
await produce(records);
const elapsed = performance.now() - started;
const cpu = process.cpuUsage(cpuBefore);
const serverWindow = await server.request<{ cpuPercent: number; seconds: number }>({ op: 'window-stop' });
await sender.close();
await server.stop();
process.stdout.write(
  `${JSON.stringify({
    system,
    records,
    perSecond: (records / elapsed) * 1000,
    sendNsPerRecord: sendNs / records,
    cpuNsPerRecord: ((cpu.user + cpu.system) * 1000) / records,
    serverCpuNsPerRecord: ((serverWindow.cpuPercent / 100) * serverWindow.seconds * 1e9) / records,
  })}\n`,
);
process.exit(0);
