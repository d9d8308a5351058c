import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { CloseCode } from '../protocol/errors.ts';
import { checkDuration } from '../time/timerBounds.ts';
import {
  bearerToken,
  engineIdFromPath,
  enginePath,
  WebSocketAggregatorTransport,
} from '../transport/webSocketTransport.ts';
import type { Aggregator } from './aggregator.ts';
import { AGGREGATOR_DEFAULTS } from './aggregatorDefaults.ts';
import { apiTokenGuard } from './auth/apiAuth.ts';
import { originGuard } from './auth/originGuard.ts';
import { apiRoutes } from './http/apiRoutes.ts';
import { type EventStreamLimits, EventStreamSlots } from './http/eventStreamSlots.ts';
import { createRouter, type Route } from './http/router.ts';

export interface AggregatorServerOptions {
  aggregator: Aggregator;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** More HTTP routes, tried after the aggregator's own. */
  routes?: Route[];
  /** Serve HTTPS and WSS with this certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** When set, every route but /healthz requires this token (see apiAuth.ts). Engine links are not affected. */
  apiToken?: string;
  /**
   * How long a client may take to send a request's headers (an engine's upgrade included) and, over
   * TLS, to complete the handshake; a slower one gets 408 and is disconnected. Default 10 000 ms.
   */
  headersTimeoutMs?: number;
  /**
   * URLs the aggregator is also reached at (behind a reverse proxy, or by a DNS name): requests whose Host
   * or Origin names one of them are its own (see originGuard.ts). The listening address always is.
   */
  publicUrls?: readonly string[];
  /** Bounds on live-update streams (server-sent events). Default 256 in all, 16 per client address. */
  eventStreams?: EventStreamLimits;
}

/** The server could not listen (address in use, not an address of this machine, ...). */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** Why listening failed, in words a user can act on. */
function listenProblem(host: string, port: number, error: NodeJS.ErrnoException): string {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return `cannot listen on ${where}: the port is in use (choose another --port, or 0 for any free one)`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${where}: ${host} is not an address of this machine (see --host)`;
    case 'EACCES':
      return `cannot listen on ${where}: permission denied (ports below 1024 need privileges)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot listen on ${where}: the host name ${host} does not resolve (see --host)`;
    default:
      return `cannot listen on ${where}: ${error.message}`;
  }
}

export interface AggregatorServer {
  /** Base URL of the HTTP API, such as `http://127.0.0.1:8080` (`https://` with TLS). */
  url: string;
  /** Base URL engines connect to (they add `/engines/:id/link`): `ws://`, or `wss://` with TLS. */
  wsUrl: string;
  port: number;
  /** Closes every engine link (1001), then stops listening. Does not close the aggregator. */
  close(): Promise<void>;
}

/** How long engines get to complete the close handshake when the server stops. */
const CLOSE_GRACE_MS = 1000;

/** Answers a refused upgrade with a plain HTTP response, then drops the socket. */
function refuseUpgrade(socket: Duplex, status: number, message: string, retryAfterMs?: number): void {
  const body = `${message}\n`;
  const headers = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  if (retryAfterMs !== undefined) headers.push(`Retry-After: ${Math.ceil(retryAfterMs / 1000)}`);
  socket.once('finish', () => socket.destroy());
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}

/**
 * One HTTP server for the API and the engines' WebSocket links (`/engines/:id/link`, authorised at the
 * upgrade: a refused engine gets a plain HTTP status and no connection).
 */
export async function startAggregatorServer(options: AggregatorServerOptions): Promise<AggregatorServer> {
  const { aggregator } = options;
  const host = options.host ?? AGGREGATOR_DEFAULTS.host;
  const requestedPort = options.port ?? AGGREGATOR_DEFAULTS.port;
  const api = createRouter([...apiRoutes(aggregator), ...(options.routes ?? [])], {
    eventStreams: new EventStreamSlots(options.eventStreams),
  });
  const origins = originGuard({ host, secure: !!options.tls, publicUrls: options.publicUrls });
  const guard =
    options.apiToken === undefined ? undefined : apiTokenGuard(options.apiToken, { secure: !!options.tls });
  const listener = (request: IncomingMessage, response: ServerResponse) => {
    if (!origins.request(request, response)) return;
    if (guard && !guard(request, response)) return;
    api(request, response);
  };
  // A client that never finishes its headers (slow loris) is answered 408 and dropped; Node checks
  // unfinished requests every `connectionsCheckingInterval` ms.
  checkDuration('headersTimeoutMs', options.headersTimeoutMs, 1);
  const headersTimeout = options.headersTimeoutMs ?? AGGREGATOR_DEFAULTS.headersTimeoutMs;
  const timeouts = {
    headersTimeout,
    requestTimeout: Math.max(headersTimeout, 30_000),
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
  };
  const server = options.tls
    ? createHttpsServer(
        { ...timeouts, cert: options.tls.cert, key: options.tls.key, handshakeTimeout: headersTimeout },
        listener,
      )
    : createServer(timeouts, listener);
  const wss = new WebSocketServer({
    noServer: true,
    // Frames up to twice the limit are read and refused in order, after the answers to the frames
    // before them (the codec checks the limit); larger ones are cut off in the parser at once, which
    // bounds what one link can make the aggregator buffer.
    maxPayload: 2 * aggregator.maxFrameBytes,
    perMessageDeflate: false,
  });

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {
      // A peer that vanishes mid-upgrade: nothing to tell anyone.
    });
    const foreign = origins.upgradeRefusal(request);
    if (foreign !== undefined) {
      refuseUpgrade(socket, 403, foreign);
      return;
    }
    const engineId = engineIdFromPath(request.url);
    if (engineId === undefined) {
      refuseUpgrade(socket, 404, `no engine link at ${request.url}; engines connect to ${enginePath(':id')}`);
      return;
    }
    const token = bearerToken(request);
    const decision = aggregator.authorize({ engineId, token });
    if (!decision.ok) {
      refuseUpgrade(socket, decision.status, decision.message, decision.retryAfterMs);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      aggregator.accept(new WebSocketAggregatorTransport(ws, aggregator.maxFrameBytes), { engineId, token });
    });
  });

  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => {
      wss.close();
      reject(new ListenError(listenProblem(host, requestedPort, error), error.code));
    };
    server.once('error', failed);
    server.listen(requestedPort, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const secure = options.tls !== undefined;

  let closing: Promise<void> | undefined;
  /** Upgraded sockets are not the HTTP server's any more: wait for the links themselves to close. */
  const closeLinks = async () => {
    const clients = [...wss.clients];
    const allClosed = Promise.all(
      clients.map((client) => new Promise<void>((resolve) => client.once('close', () => resolve()))),
    );
    for (const client of clients) client.close(CloseCode.GoingAway, 'aggregator shutting down');
    const force = setTimeout(() => {
      for (const client of clients) client.terminate();
    }, CLOSE_GRACE_MS);
    await allClosed;
    clearTimeout(force);
  };
  return {
    url: `${secure ? 'https' : 'http'}://${authority}`,
    wsUrl: `${secure ? 'wss' : 'ws'}://${authority}`,
    port,
    close: () => {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await closeLinks();
        wss.close();
        server.closeAllConnections();
        await stopped;
      })();
      return closing;
    },
  };
}
