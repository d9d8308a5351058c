// The transport's practical limit: a bare `ws` server that parses JSON batches and answers each with the
// running count, storing nothing. Driven over IPC (see `serve` in support.ts).
import { WebSocketServer } from 'ws';
import { CpuWindow, serve } from '../support.ts';

const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
server.on('connection', (socket) => {
  let received = 0;
  socket.on('message', (data) => {
    const batch = JSON.parse(data.toString()) as unknown[];
    received += batch.length;
    socket.send(String(received));
  });
});
await new Promise<void>((resolve) => server.once('listening', () => resolve()));
const address = server.address();
const cpu = new CpuWindow('rawWsCounter');
serve({ port: address && typeof address === 'object' ? address.port : 0 }, async (request) => {
  if (request.op === 'window-start') await cpu.restart();
  return request.op === 'window-stop' ? await cpu.read() : {};
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
