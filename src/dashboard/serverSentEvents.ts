import type { IncomingMessage, ServerResponse } from 'node:http';

export interface ServerSentEventStream {
  /** Writes one event (`event: name`, `data: JSON`). */
  send(event: string, data: unknown): void;
}

/** How often an idle stream gets a comment line, so proxies do not close it. */
const KEEP_ALIVE_MS = 15_000;

/**
 * Opens a `text/event-stream` response and calls `onClose` once when the client goes away. A `retry`
 * hint asks EventSource to reconnect after a second rather than its default three.
 */
export function openEventStream(
  request: IncomingMessage,
  response: ServerResponse,
  onClose: () => void,
): ServerSentEventStream {
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
  });
  response.write('retry: 1000\n\n');
  const keepAlive = setInterval(() => response.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
  keepAlive.unref();
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(keepAlive);
    onClose();
  };
  request.on('close', close);
  response.on('close', close);
  return {
    send: (event, data) => {
      if (!closed) response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
  };
}
