import type { IncomingMessage, ServerResponse } from 'node:http';
import { EventStreamSlots } from './eventStreamSlots.ts';
import { sendError } from './httpErrors.ts';

export { sendJson } from './httpErrors.ts';

/** What a route's handler gets: the request and response, the path's parameters and the parsed URL. */
export interface RouteContext {
  request: IncomingMessage;
  response: ServerResponse;
  /** Decoded `:name` segments of the route's path. */
  params: Record<string, string>;
  url: URL;
  /**
   * The server's places for live-update streams (see EventStreamHub).
   *
   * @internal
   */
  eventStreams: EventStreamSlots;
}

/**
 * An HTTP route: a method, a path with `:name` segments, and its handler (extra routes for
 * `startAggregatorServer` and `createAggregatorHandler`).
 */
export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  /** A path with `:name` segments, such as `/api/engines/:id`. */
  path: string;
  /** Answers the request (a rejection is answered 500). */
  handler: (context: RouteContext) => void | Promise<void>;
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
 * The router: the one place requests meet routes. A request listener for `routes` (tried in order) that
 * answers JSON errors for unknown paths (404), methods a path does not have (405, with `Allow`) and
 * handlers that throw (500). Every GET route answers HEAD too (Node sends the headers without the body).
 */
export function createRouter(
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
        sendError(response, 'badRequest', { message: 'malformed percent-encoding in path' });
        return;
      }
      Promise.resolve()
        .then(() => route.handler({ request, response, params, url, eventStreams }))
        .catch((error: unknown) => {
          if (response.headersSent) response.destroy(error as Error);
          else sendError(response, 'internal', { message: (error as Error).message });
        });
      return;
    }
    if (allowed.length > 0)
      sendError(
        response,
        'methodNotAllowed',
        { method: request.method, path: url.pathname, allow: allowed },
        { allow: allowed.join(', ') },
      );
    else sendError(response, 'notFound', { path: url.pathname });
  };
}
