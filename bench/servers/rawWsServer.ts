// The transport's practical limit: a bare `ws` server that parses JSON batches and answers each with a
// count, storing nothing. Prints {"port":N} when ready.
import { WebSocketServer } from 'ws';

const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
server.on('connection', (socket) => {
  let received = 0;
  socket.on('message', (data) => {
    const batch = JSON.parse(data.toString()) as unknown[];
    received += batch.length;
    socket.send(String(received));
  });
});
server.on('listening', () => {
  const address = server.address();
  process.stdout.write(
    `${JSON.stringify({ port: address && typeof address === 'object' ? address.port : 0 })}\n`,
  );
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
