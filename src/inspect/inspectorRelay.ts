import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

export interface InspectorRelayOptions {
  /** Address to listen on. Default 127.0.0.1: only this machine may send or watch machine events. */
  host?: string;
  /** Default 8090; 0 picks a free port. */
  port?: number;
  /** The Stately inspector page the bridge page embeds. Default https://stately.ai/inspect. */
  inspectorUrl?: string;
  /** Events kept for a page that opens later. Default 200. */
  keepEvents?: number;
}

export interface InspectorRelay {
  host: string;
  port: number;
  /** Where machines send their events (`--inspect <this>`). */
  wsUrl: string;
  /** The page to open in a browser. */
  pageUrl: string;
  stop(): Promise<void>;
}

/**
 * The page a browser opens: it embeds the Stately inspector and hands it every event the relay sends,
 * holding them until the inspector says it is ready (it posts `@statelyai.connected`).
 */
function bridgePage(inspectorUrl: string): string {
  return `<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>engine-link: state machines (Stately inspector)</title>
  <style>html, body, iframe { margin: 0; width: 100%; height: 100%; border: 0; display: block; }</style>
</head>
<body>
  <iframe id="inspector" src="${inspectorUrl}"></iframe>
  <script>
    const frame = document.getElementById('inspector');
    const waiting = [];
    let ready = false;
    const deliver = (event) => frame.contentWindow.postMessage(event, '*');
    window.addEventListener('message', (message) => {
      if (message.data?.type !== '@statelyai.connected') return;
      ready = true;
      waiting.splice(0).forEach(deliver);
    });
    const relay = new WebSocket('ws://' + location.host);
    relay.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (ready) deliver(event);
      else waiting.push(event);
    };
  </script>
</body>
</html>`;
}

/**
 * A relay between machines that send inspection events (`--inspect`) and the Stately inspector in a
 * browser: a WebSocket that passes every event to every other connection, and the page that shows them.
 * `@statelyai/inspect` has such a server, but it listens on every interface and cannot be told
 * otherwise; this one listens where it is told (127.0.0.1 by default) and refuses WebSocket connections
 * from pages of other origins, so a web site open in the browser cannot read or forge machine events.
 */
export async function startInspectorRelay(options: InspectorRelayOptions = {}): Promise<InspectorRelay> {
  const host = options.host ?? '127.0.0.1';
  const keep = options.keepEvents ?? 200;
  const page = bridgePage(options.inspectorUrl ?? 'https://stately.ai/inspect');
  const server = createServer((request, response) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    response.end(page);
  });
  let port = 0;
  /** Engines and the aggregator send no Origin; the bridge page sends the relay's own. */
  const ownOrigin = (request: IncomingMessage) => {
    const origin = request.headers.origin;
    if (origin === undefined) return true;
    try {
      const url = new URL(origin);
      return url.protocol === 'http:' && Number(url.port || 80) === port;
    } catch {
      return false;
    }
  };
  const wss = new WebSocketServer({
    server,
    verifyClient: ({ req }: { req: IncomingMessage }) => ownOrigin(req),
  });
  const recent: string[] = [];
  wss.on('connection', (socket) => {
    for (const text of recent) socket.send(text);
    socket.on('message', (data) => {
      const text = data.toString();
      recent.push(text);
      if (recent.length > keep) recent.shift();
      for (const client of wss.clients)
        if (client !== socket && client.readyState === WebSocket.OPEN) client.send(text);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8090, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return {
    host,
    port,
    wsUrl: `ws://${authority}`,
    pageUrl: `http://${authority}`,
    stop: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
