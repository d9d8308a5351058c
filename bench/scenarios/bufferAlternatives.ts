// Socket.IO's and MQTT.js's offline queues: <records> samples handed over while the server cannot be
// reached. Heap bytes per buffered sample (heapUsed + external + arrayBuffers, after full GCs), time per
// call, and how many the queue actually holds (MQTT.js keys its store by 16-bit packet identifier).
// Run with --expose-gc. Prints one JSON line. Args: <socketio|mqtt> <records>
import { MqttSender, type Sender, SocketIoSender } from '../alternatives/senders.ts';
import { freePort, plainSample, sleep } from '../support.ts';

const system = process.argv[2];
const records = Number(process.argv[3] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const memory = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
};

// Nothing listens on this port: every connection attempt is refused.
const port = await freePort();
let sender: Sender;
let held: () => number;
if (system === 'socketio') {
  const s = new SocketIoSender({ port, id: 'buffer' }, false);
  held = () => s.socket.sendBuffer.length;
  sender = s;
} else {
  const s = new MqttSender({ port, id: 'buffer', reconnectPeriod: 60_000 });
  const store = s.client.outgoingStore as unknown as { _inflights: Map<number, unknown> };
  held = () => store._inflights.size;
  sender = s;
}
await sleep(300); // the first connection attempt has failed
// Samples are made a thousand at a time just before they are sent (outside the timed calls); what the
// queue keeps of them counts, the rest is garbage by the time memory is measured.
const t = Date.now();
const before = memory();
let elapsedNs = 0;
for (let from = 0; from < records; from += 1000) {
  const n = Math.min(1000, records - from);
  const slice = Array.from({ length: n }, (_, i) => plainSample(from + i, t + from + i));
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sender.send(slice[i]!);
  elapsedNs += Number(process.hrtime.bigint() - started);
}
const after = memory();
const kept = held();
process.stdout.write(
  `${JSON.stringify({
    system,
    records,
    held: kept,
    lost: records - kept,
    sendNsPerRecord: elapsedNs / records,
    heapBytesPerRecord: (after - before) / records,
    heapBytesPerHeld: (after - before) / kept,
  })}\n`,
);
process.exit(0);
