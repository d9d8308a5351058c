import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Aggregator } from './aggregator.ts';
import { EventStreamSlots } from './eventStreamSlots.ts';

export interface RouteContext {
  request: IncomingMessage;
  response: ServerResponse;
  /** Decoded `:name` segments of the route's path. */
  params: Record<string, string>;
  url: URL;
  /** The server's places for live-update streams (see EventStreamHub). */
  eventStreams: EventStreamSlots;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  /** A path with `:name` segments, such as `/api/engines/:id`. */
  path: string;
  handler: (context: RouteContext) => void | Promise<void>;
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(text);
}

/** The aggregator's core routes: health and engines (see also runRoutes, commandRoutes, eventStream). */
export function aggregatorRoutes(aggregator: Aggregator): Route[] {
  return [
    { method: 'GET', path: '/healthz', handler: ({ response }) => sendJson(response, 200, { ok: true }) },
    {
      method: 'GET',
      path: '/api/engines',
      handler: ({ response }) => sendJson(response, 200, aggregator.engines()),
    },
    {
      method: 'GET',
      path: '/api/engines/:id',
      handler: ({ response, params }) => {
        const engineId = params.id!;
        const view = aggregator.engine(engineId);
        if (view) sendJson(response, 200, view);
        else sendJson(response, 404, { error: 'unknown-engine', engineId });
      },
    },
  ];
}

interface CompiledRoute extends Route {
  pattern: RegExp;
  names: string[];
}

function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(segment.slice(1));
      return '([^/]+)';
    })
    .join('/');
  return { ...route, pattern: new RegExp(`^${source}/?$`), names };
}

/**
 * A request listener for `routes`, answering JSON errors for unknown paths (404), methods a path does
 * not have (405, with `Allow`) and handlers that throw (500). Every GET route answers HEAD too (Node
 * sends the headers without the body).
 */
export function createHttpApi(
  routes: readonly Route[],
  options: { eventStreams?: EventStreamSlots } = {},
): (request: IncomingMessage, response: ServerResponse) => void {
  const compiled = routes.map(compile);
  const eventStreams = options.eventStreams ?? new EventStreamSlots();
  return (request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    const allowed: string[] = [];
    for (const route of compiled) {
      const match = route.pattern.exec(url.pathname);
      if (!match) continue;
      if (route.method !== method) {
        allowed.push(...(route.method === 'GET' ? ['GET', 'HEAD'] : [route.method]));
        continue;
      }
      const params: Record<string, string> = {};
      try {
        route.names.forEach((name, i) => {
          params[name] = decodeURIComponent(match[i + 1]!);
        });
      } catch {
        sendJson(response, 400, { error: 'bad-request', message: 'malformed percent-encoding in path' });
        return;
      }
      Promise.resolve()
        .then(() => route.handler({ request, response, params, url, eventStreams }))
        .catch((error: unknown) => {
          if (response.headersSent) response.destroy(error as Error);
          else sendJson(response, 500, { error: 'internal-error', message: (error as Error).message });
        });
      return;
    }
    if (allowed.length > 0)
      sendJson(
        response,
        405,
        { error: 'method-not-allowed', method: request.method, path: url.pathname, allow: allowed },
        { allow: allowed.join(', ') },
      );
    else sendJson(response, 404, { error: 'not-found', path: url.pathname });
  };
}
