// A Socket.IO 4 server in its own process, driven over IPC (see `serve` in support.ts). Receives `s`
// events (one sample each), acknowledges those that ask for it, counts them (and the distinct `seq`
// numbers, where senders number them). With --persist, stores them first (SqliteSink) and acknowledges
// after the commit. Args: [--ping-interval ms] [--ping-timeout ms] [--persist]
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { SqliteSink } from '../alternatives/sqliteSink.ts';
import { CpuWindow, LatencyWindow, type PlainSample, serve } from '../support.ts';
import { ReceiveTally } from './receiveTally.ts';

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : undefined;
};
const latency = new LatencyWindow();
const cpu = new CpuWindow('socketIoServer');
const sink = args.includes('--persist') ? new SqliteSink(latency) : undefined;
const http = createServer();
const io = new Server(http, {
  transports: ['websocket'],
  pingInterval: option('--ping-interval') ?? 25_000,
  pingTimeout: option('--ping-timeout') ?? 20_000,
  serveClient: false,
});
const tally = new ReceiveTally(latency, cpu);

io.on('connection', (socket) => {
  const id = String(socket.handshake.query.id ?? socket.id);
  const mine = tally.of(id);
  tally.connected++;
  report('up', { id });
  socket.on('disconnect', (reason) => {
    tally.connected--;
    report('down', { id, reason });
  });
  socket.on('s', (sample: PlainSample, ack?: () => void) => {
    mine.received++;
    if (sample.seq !== undefined) mine.seqs.add(sample.seq);
    if (sink) sink.add(id, sample, ack);
    else ack?.();
  });
});

await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
const { report } = serve({ port: (http.address() as AddressInfo).port }, tally.answer);
process.once('SIGTERM', () => {
  io.close();
  sink?.close();
  process.exit(0);
});
