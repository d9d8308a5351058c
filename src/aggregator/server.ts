import { createServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { checkDuration } from '../time/timerBounds.ts';
import type { Aggregator } from './aggregator.ts';
import { AGGREGATOR_DEFAULTS } from './aggregatorDefaults.ts';
import { createAggregatorHandler, refuseOtherUpgrade } from './aggregatorHandler.ts';
import type { AggregatorMetrics } from './aggregatorMetrics.ts';
import type { EventStreamLimits } from './http/eventStreamSlots.ts';
import type { Route } from './http/router.ts';

/**
 * Options of `startAggregatorServer`: the aggregator, where to listen, TLS, the API token, the Host and
 * Origin checks, live-update stream limits and the metrics.
 */
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
  /** What `GET /metrics` serves; default: the aggregator's metrics; `false`: no route (see AggregatorHandlerOptions). */
  metrics?: AggregatorMetrics | false;
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
export function listenProblem(host: string, port: number, error: NodeJS.ErrnoException): string {
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

/** A running aggregator server (`startAggregatorServer`): where it listens, and how to stop it. */
export interface AggregatorServer {
  /** Base URL of the HTTP API, such as `http://127.0.0.1:8080` (`https://` with TLS). */
  url: string;
  /** Base URL engines connect to (they add `/engines/:id/link`): `ws://`, or `wss://` with TLS. */
  wsUrl: string;
  port: number;
  /** Closes every engine link (1001), then stops listening. Does not close the aggregator. */
  close(): Promise<void>;
}

/**
 * One HTTP server for the API and the engines' WebSocket links (`/engines/:id/link`, authorised at the
 * upgrade: a refused engine gets a plain HTTP status and no connection): {@link createAggregatorHandler}
 * on a server of its own.
 */
export async function startAggregatorServer(options: AggregatorServerOptions): Promise<AggregatorServer> {
  const host = options.host ?? AGGREGATOR_DEFAULTS.host;
  const requestedPort = options.port ?? AGGREGATOR_DEFAULTS.port;
  const handler = createAggregatorHandler({
    aggregator: options.aggregator,
    routes: options.routes,
    apiToken: options.apiToken,
    host,
    publicUrls: options.publicUrls,
    secure: options.tls !== undefined,
    eventStreams: options.eventStreams,
    metrics: options.metrics,
  });
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
        handler.requestListener,
      )
    : createServer(timeouts, handler.requestListener);
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!handler.handleUpgrade(request, socket, head)) refuseOtherUpgrade(request, socket);
  });

  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => {
      void handler.closeLinks();
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
  return {
    url: `${secure ? 'https' : 'http'}://${authority}`,
    wsUrl: `${secure ? 'wss' : 'ws'}://${authority}`,
    port,
    close: () => {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await handler.closeLinks();
        server.closeAllConnections();
        await stopped;
      })();
      return closing;
    },
  };
}
