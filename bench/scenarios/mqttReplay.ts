// MQTT.js stored QoS 1 replay: the engine publishes <records> QoS 1 samples while the broker is down
// (they wait in MQTT.js's outgoing store), then the aedes broker starts in its own process and MQTT.js
// replays them. Measured from CONNACK to the last PUBACK. Also counts what the broker received. MQTT.js
// replays its store one message at a time (each waits for its PUBACK). Prints one JSON line.
// Args: <records> (keep it under 65,535: packet identifiers are 16 bits and the store is keyed by them)
import { MqttSender } from '../alternatives/senders.ts';
import { freePort, plainSample, sleep, startServer, waitUntil } from '../support.ts';

const records = Number(process.argv[2] ?? 50_000);
const port = await freePort();
const id = `replay-${process.pid}`;
const sender = new MqttSender({ port, id, reconnectPeriod: 200 });
let connack = 0;
sender.onLink((up) => {
  if (up && !connack) connack = performance.now();
});
const t = Date.now();
for (let i = 0; i < records; i++) sender.send({ ...plainSample(i, t + i), seq: i });
const broker = await startServer(`${import.meta.dirname}/../servers/aedesBroker.ts`, [
  '--port',
  String(port),
]);
const done = await waitUntil(() => sender.acked() >= records, 120_000, 2);
const elapsed = performance.now() - connack;
await sleep(100);
const { distinct } = await broker.request<{ distinct: number }>({ op: 'count', id });
await sender.close();
await broker.stop();
if (!done) throw new Error(`only ${sender.acked()} of ${records} acknowledged`);
process.stdout.write(
  `${JSON.stringify({ records, perSecond: (records / elapsed) * 1000, received: distinct })}\n`,
);
process.exit(0);
