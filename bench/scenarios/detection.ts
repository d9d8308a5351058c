// Detection and recovery of one system through a half-open link. The engine (this process) sends 1,000
// samples/s through a FaultProxy to the server (its own process); the proxy black-holes the link (no
// FIN, no RST, nothing passes); we time when the engine and the server notice, restore the link once
// both did, time the reconnect, then count what the server got. Prints one JSON line.
// Args: <system> [--defaults] (the alternatives' default heartbeats instead of ones tuned to about 3 s)

import { FaultProxy } from '../../src/transport/faultProxy.ts';
import { createSender, type SystemName, serverFor } from '../alternatives/senders.ts';
import { plainSample, type ServerEvent, sleep, startServer, waitUntil, wallNow } from '../support.ts';

const system = process.argv[2] as SystemName;
const defaults = process.argv.includes('--defaults');
const RATE_PER_TICK = 10;
const TICK_MS = 10;
/** Longest wait for a detection or a reconnect before giving up on it (reported as "more than"). */
const CAP_MS = defaults ? 120_000 : 30_000;

const serverArgs =
  system.startsWith('socketio') && !defaults ? ['--ping-interval', '1000', '--ping-timeout', '2000'] : [];
const server = await startServer(`${import.meta.dirname}/../servers/${serverFor(system)}.ts`, serverArgs);
const proxy = new FaultProxy({ host: '127.0.0.1', port: Number(server.ready.port) });
const { port } = await proxy.start();
const id = `detect-${process.pid}`;
const sender = createSender(system, { port, id, heartbeatMs: defaults ? undefined : 3000 });

const link: Array<{ up: boolean; at: number }> = [];
sender.onLink((up) => link.push({ up, at: wallNow() }));
const linkAfter = (up: boolean, after: number) => link.find((e) => e.up === up && e.at > after);
const serverAfter = (event: string, after: number) => (e: ServerEvent) =>
  e.event === event && e.id === id && e.at > after;

let produced = 0;
const producer = setInterval(() => {
  const t = wallNow();
  for (let i = 0; i < RATE_PER_TICK; i++) sender.send({ ...plainSample(produced, t), seq: produced++ });
}, TICK_MS);

await waitUntil(() => linkAfter(true, 0) !== undefined, 10_000);
await sleep(1000);

const blackholeAt = wallNow();
const producedAtBlackhole = produced;
proxy.blackhole();
await waitUntil(() => linkAfter(false, blackholeAt) !== undefined, CAP_MS);
const engineDown = linkAfter(false, blackholeAt);
const producedAtDetection = produced;
const serverDown = await server.waitEvent(serverAfter('down', blackholeAt), CAP_MS);
await sleep(500);

const restoreAt = wallNow();
proxy.restore();
await waitUntil(() => linkAfter(true, restoreAt) !== undefined, CAP_MS);
const engineUp = linkAfter(true, restoreAt);
const serverUp = await server.waitEvent(serverAfter('up', restoreAt), 5000);
await sleep(1000);
clearInterval(producer);

// Let whatever the system will still deliver arrive.
if (system === 'engine-link' || system === 'mqtt-qos1')
  await waitUntil(() => sender.outstanding() === 0, 60_000, 10);
else if (system === 'socketio-ack') await waitUntil(() => sender.outstanding() === 0, 3000, 10);
await sleep(500);
const counted = await server.request<{
  received?: number;
  distinct?: number;
  persisted?: number;
  duplicates?: number;
}>({ op: 'count', id });
const distinct = counted.persisted ?? counted.distinct ?? 0;
const duplicates = counted.duplicates ?? (counted.received ?? 0) - distinct;
await sender.close();
// A connection swallowed by the black hole may wait out a 30 s close handshake: do not wait for it.
await Promise.race([proxy.close(), sleep(500)]);
await server.stop();
const seconds = (at: number | undefined, from: number) => (at === undefined ? null : (at - from) / 1000);
process.stdout.write(
  `${JSON.stringify({
    system,
    defaults,
    capSeconds: CAP_MS / 1000,
    engineDetectS: seconds(engineDown?.at, blackholeAt),
    serverDetectS: seconds(serverDown?.at, blackholeAt),
    reconnectS: seconds(engineUp?.at, restoreAt),
    serverUpS: seconds(serverUp?.at, restoreAt),
    windowRecords: producedAtDetection - producedAtBlackhole,
    produced,
    lost: produced - distinct,
    duplicates,
  })}\n`,
);
process.exit(0);
