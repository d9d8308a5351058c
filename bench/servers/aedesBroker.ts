// An aedes MQTT broker in its own process with an in-process subscriber on `samples/#`, driven over IPC
// (see `serve` in support.ts). Counts what arrives per client (and distinct `seq` numbers, where senders
// number them); with --persist the subscriber stores every sample (SqliteSink) and times it.
// Args: [--port N] (default: any free port) [--persist]
import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import { SqliteSink } from '../alternatives/sqliteSink.ts';
import { CpuWindow, LatencyWindow, type PlainSample, serve } from '../support.ts';
import { ReceiveTally } from './receiveTally.ts';

const args = process.argv.slice(2);
const portArg = args.indexOf('--port');
const latency = new LatencyWindow();
const cpu = new CpuWindow('aedesBroker');
const sink = args.includes('--persist') ? new SqliteSink(latency) : undefined;
const tally = new ReceiveTally(latency, cpu);

const broker = await Aedes.createBroker();
broker.subscribe(
  'samples/#',
  (packet, done) => {
    const id = packet.topic.slice('samples/'.length);
    const c = tally.of(id);
    c.received++;
    const sample = JSON.parse(packet.payload.toString()) as PlainSample;
    if (sample.seq !== undefined) c.seqs.add(sample.seq);
    sink?.add(id, sample);
    done();
  },
  () => {},
);
broker.on('client', (client) => {
  tally.connected++;
  report('up', { id: client.id });
});
broker.on('clientDisconnect', (client) => {
  tally.connected--;
  report('down', { id: client.id });
});
const tcp = createServer(broker.handle);
await new Promise<void>((resolve) =>
  tcp.listen(portArg >= 0 ? Number(args[portArg + 1]) : 0, '127.0.0.1', () => resolve()),
);
const address = tcp.address();
const { report } = serve({ port: address && typeof address === 'object' ? address.port : 0 }, tally.answer);
process.once('SIGTERM', () => {
  tcp.close();
  sink?.close();
  process.exit(0);
});
