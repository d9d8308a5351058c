import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { CloseCode } from '../protocol/errors.ts';
import {
  bearerToken,
  engineIdFromPath,
  enginePath,
  WebSocketAggregatorTransport,
} from '../transport/webSocketTransport.ts';
import type { Aggregator } from './aggregator.ts';
import { AggregatorMetrics } from './aggregatorMetrics.ts';
import { apiTokenGuard } from './auth/apiAuth.ts';
import { originGuard } from './auth/originGuard.ts';
import { apiRoutes } from './http/apiRoutes.ts';
import { type EventStreamLimits, EventStreamSlots } from './http/eventStreamSlots.ts';
import { sendError } from './http/httpErrors.ts';
import { metricsRoute } from './http/metricsRoute.ts';
import { createRouter, type Route } from './http/router.ts';
import { refuseUpgrade } from './refuseUpgrade.ts';

/** How an {@link AggregatorHandler} answers: the aggregator, the routes beside its API, and its guards. */
export interface AggregatorHandlerOptions {
  aggregator: Aggregator;
  /** More HTTP routes, tried after the aggregator's own (`dashboardRoutes(aggregator)` for the status page). */
  routes?: readonly Route[];
  /**
   * The path the HTTP API and the dashboard are mounted under, such as `/engine-link`: requests to
   * `/engine-link/api/engines` are answered, requests outside it are left to the caller. Default none (`''`:
   * every request is the handler's). Engine links are always at `/engines/:id/link`, where engines look for
   * them.
   */
  prefix?: string;
  /** When set, every route but `/healthz` requires this token. Engine links are not affected. */
  apiToken?: string;
  /**
   * The address the server listens on, which a request's `Host` must name (DNS rebinding). Default: the
   * address each request arrived at. A wildcard (`0.0.0.0`, `::`) stands for every local address.
   */
  host?: string;
  /** URLs the aggregator is also reached at (a reverse proxy, a DNS name): their Host and Origin are its own. */
  publicUrls?: readonly string[];
  /** Whether the server speaks TLS (the dashboard's cookie is then `Secure`). Default: false, or true once attached to an `https.Server`. */
  secure?: boolean;
  /** Bounds on live-update streams (server-sent events). Default 256 in all, 16 per client address. */
  eventStreams?: EventStreamLimits;
  /**
   * What `GET /metrics` serves (Prometheus text format, behind the API token when one is set). Default:
   * the aggregator's own metrics in a registry of their own; `false`: no `/metrics` route.
   */
  metrics?: AggregatorMetrics | false;
}

/**
 * The aggregator's HTTP side, for a server of someone else's (as `ws` does with `noServer` and
 * `handleUpgrade`, and Socket.IO with `attach`): engine links on `/engines/:id/link`, and the HTTP API and
 * dashboard as a request handler mountable under a prefix. {@link startAggregatorServer} is this handler
 * on a server of its own.
 */
export interface AggregatorHandler {
  /**
   * Answers a request under the prefix and returns true; returns false, leaving the response untouched,
   * for a request outside it (the caller answers it). With no prefix, every request is the handler's.
   */
  handleRequest(request: IncomingMessage, response: ServerResponse): boolean;
  /** {@link AggregatorHandler.handleRequest} as a request listener: a request outside the prefix gets 404. */
  readonly requestListener: (request: IncomingMessage, response: ServerResponse) => void;
  /**
   * Takes an HTTP upgrade for an engine link (`/engines/:id/link`): authorises it, then accepts the link
   * or refuses it with a plain HTTP status. Returns false, leaving the socket untouched, for any other path.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /**
   * Listens to `server`'s `upgrade` events for engine links and, unless `requests: false`, answers its
   * requests under the prefix. Other upgrades and requests are left to the server's other listeners (with
   * none, they are answered 404).
   * Returns a function that detaches it.
   */
  attach(server: HttpServer | HttpsServer, options?: { requests?: boolean }): () => void;
  /** Closes every engine link (1001 going away), waiting at most a second for each. Does not close the aggregator. */
  closeLinks(): Promise<void>;
}

/** How long engines get to complete the close handshake when the links are closed. */
const CLOSE_GRACE_MS = 1000;

function checkPrefix(prefix: string): string {
  if (prefix === '' || prefix === '/') return '';
  if (!/^\/[^?#\s]*[^/?#\s]$/.test(prefix))
    throw new TypeError(
      `prefix must be a path such as /engine-link (no trailing slash), not ${JSON.stringify(prefix)}`,
    );
  return prefix;
}

/** The aggregator's HTTP API, dashboard routes and engine links, for mounting in a server of the caller's. */
export function createAggregatorHandler(options: AggregatorHandlerOptions): AggregatorHandler {
  const { aggregator } = options;
  const prefix = checkPrefix(options.prefix ?? '');
  let secure = options.secure ?? false;
  const metrics =
    options.metrics === false ? undefined : (options.metrics ?? new AggregatorMetrics(aggregator));
  const metricsRoutes = metrics ? [metricsRoute(metrics.registry)] : [];
  const api = createRouter([...apiRoutes(aggregator), ...metricsRoutes, ...(options.routes ?? [])], {
    eventStreams: new EventStreamSlots(options.eventStreams),
  });
  const guards = (tls: boolean) => ({
    origins: originGuard({ host: options.host, secure: tls, publicUrls: options.publicUrls }),
    token:
      options.apiToken === undefined ? undefined : apiTokenGuard(options.apiToken, { secure: tls, prefix }),
  });
  const plain = guards(false);
  const encrypted = guards(true);
  const wss = new WebSocketServer({
    noServer: true,
    // Frames up to twice the limit are read and refused in order, after the answers to the frames
    // before them (the codec checks the limit); larger ones are cut off in the parser at once, which
    // bounds what one link can make the aggregator buffer.
    maxPayload: 2 * aggregator.maxFrameBytes,
    perMessageDeflate: false,
  });

  /** The request's path inside the mount point, or undefined when it is outside. */
  const inside = (url: string): string | undefined => {
    if (prefix === '') return url;
    if (url === prefix || url.startsWith(`${prefix}?`)) return ''; // the mount point itself
    return url.startsWith(`${prefix}/`) ? url.slice(prefix.length) : undefined;
  };

  const handleRequest = (request: IncomingMessage, response: ServerResponse): boolean => {
    const path = inside(request.url ?? '/');
    if (path === undefined) return false;
    if (path === '' || path.startsWith('?')) {
      // The dashboard's links are relative to the mount point with its slash.
      response.writeHead(308, { location: `${prefix}/${path}` }).end();
      return true;
    }
    request.url = path;
    const { origins, token } = secure ? encrypted : plain;
    if (!origins.request(request, response)) return true;
    if (token && !token(request, response)) return true;
    api(request, response);
    return true;
  };

  const handleUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): boolean => {
    const engineId = engineIdFromPath(request.url);
    if (engineId === undefined) return false;
    socket.on('error', () => {
      // A peer that vanishes mid-upgrade: nothing to tell anyone.
    });
    const foreign = (secure ? encrypted : plain).origins.upgradeRefusal(request);
    if (foreign !== undefined) {
      refuseUpgrade(socket, 403, foreign);
      return true;
    }
    const token = bearerToken(request);
    const decision = aggregator.authorize({ engineId, token });
    if (!decision.ok) {
      refuseUpgrade(socket, decision.status, decision.message, decision.retryAfterMs);
      return true;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      aggregator.accept(new WebSocketAggregatorTransport(ws, aggregator.maxFrameBytes), { engineId, token });
    });
    return true;
  };

  return {
    handleRequest,
    requestListener: (request, response) => {
      if (!handleRequest(request, response)) refuseRequest(request, response);
    },
    handleUpgrade,
    attach: (server, attachOptions = {}) => {
      if (options.secure === undefined && server instanceof HttpsServer) secure = true;
      // What no listener but this one takes is refused rather than left hanging.
      const alone = (event: 'upgrade' | 'request') => server.listenerCount(event) === 1;
      const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (!handleUpgrade(request, socket, head) && alone('upgrade')) refuseOtherUpgrade(request, socket);
      };
      const onRequest = (request: IncomingMessage, response: ServerResponse) => {
        if (!handleRequest(request, response) && alone('request')) refuseRequest(request, response);
      };
      server.on('upgrade', onUpgrade);
      if (attachOptions.requests !== false) server.on('request', onRequest);
      return () => {
        server.off('upgrade', onUpgrade);
        server.off('request', onRequest);
      };
    },
    closeLinks: async () => {
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
      wss.close();
    },
  };
}

function refuseRequest(request: IncomingMessage, response: ServerResponse): void {
  sendError(response, 'notFound', { path: (request.url ?? '/').split('?')[0] });
}

/** An upgrade that is not an engine link, on a server where nothing else takes upgrades. */
export function refuseOtherUpgrade(request: IncomingMessage, socket: Duplex): void {
  refuseUpgrade(socket, 404, `no engine link at ${request.url}; engines connect to ${enginePath(':id')}`);
}
