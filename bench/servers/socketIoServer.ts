// A Socket.IO 4 server in its own process, driven over IPC (see `serve` in support.ts). Receives `s`
// events (one sample each), acknowledges those that ask for it, counts them (and the distinct `seq`
// numbers, where senders number them). With --persist, stores them first (SqliteSink) and acknowledges
// after the commit. Args: [--ping-interval ms] [--ping-timeout ms] [--persist]
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { SqliteSink } from '../alternatives/sqliteSink.ts';
import { CpuWindow, LatencyWindow, type PlainSample, serve } from '../support.ts';

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : undefined;
};
const latency = new LatencyWindow();
const cpu = new CpuWindow();
const sink = args.includes('--persist') ? new SqliteSink(latency) : undefined;
const http = createServer();
const io = new Server(http, {
  transports: ['websocket'],
  pingInterval: option('--ping-interval') ?? 25_000,
  pingTimeout: option('--ping-timeout') ?? 20_000,
  serveClient: false,
});
const counts = new Map<string, { received: number; seqs: Set<number> }>();
let connected = 0;

io.on('connection', (socket) => {
  const id = String(socket.handshake.query.id ?? socket.id);
  let c = counts.get(id);
  if (!c) {
    c = { received: 0, seqs: new Set() };
    counts.set(id, c);
  }
  const mine = c;
  connected++;
  report('up', { id });
  socket.on('disconnect', (reason) => {
    connected--;
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
const { report } = serve({ port: (http.address() as AddressInfo).port }, (request) => {
  switch (request.op) {
    case 'count': {
      const c = counts.get(String(request.id));
      return { received: c?.received ?? 0, distinct: c?.seqs.size ?? 0 };
    }
    case 'engines':
      return { up: connected };
    case 'window-start':
      latency.start();
      cpu.restart();
      return {};
    case 'window-stop':
      return { ...cpu.read(), ...latency.stop() };
    default:
      throw new Error(`unknown request ${JSON.stringify(request)}`);
  }
});
process.once('SIGTERM', () => {
  io.close();
  sink?.close();
  process.exit(0);
});
