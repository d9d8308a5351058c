import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from '../http/httpErrors.ts';
import { tokenDigest } from './tokens.ts';

/** The cookie that carries the API token for the dashboard page and its requests. */
export const API_TOKEN_COOKIE = 'engine_link_token';

/** Paths served without the API token: health checks. */
const OPEN_PATHS = new Set(['/healthz']);

function cookie(request: IncomingMessage, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function bearer(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  const match = header ? /^Bearer\s+(.+)$/i.exec(header) : null;
  return match?.[1];
}

/**
 * Guards the HTTP API and the dashboard with one token. A request is let through with
 * `Authorization: Bearer <token>`, the `engine_link_token` cookie, or `?token=<token>` (for opening the
 * dashboard in a browser: the answer sets the cookie, an HttpOnly, SameSite=Strict one, and a page
 * request is redirected to the same address without the token so that it stays out of history and
 * logs). `/healthz` stays open. Tokens are compared by their SHA-256 digests in constant time.
 *
 * Returns a function that either lets a request through (true) or answers it with 401 (false).
 */
export function apiTokenGuard(
  token: string,
  options: {
    secure: boolean;
    /** The path the handler is mounted under (`/lab`), which a redirect's location must keep. Default none. */
    prefix?: string;
  },
): (request: IncomingMessage, response: ServerResponse) => boolean {
  if (token.length === 0) throw new Error('the API token must not be empty');
  const expected = tokenDigest(token);
  const matches = (presented: string | undefined) =>
    presented !== undefined && timingSafeEqual(tokenDigest(presented), expected);
  const setCookie = `${API_TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict${
    options.secure ? '; Secure' : ''
  }`;

  return (request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (OPEN_PATHS.has(url.pathname)) return true;
    if (matches(bearer(request)) || matches(cookie(request, API_TOKEN_COOKIE))) return true;
    const query = url.searchParams.get('token') ?? undefined;
    if (matches(query)) {
      response.setHeader('set-cookie', setCookie);
      if (request.method === 'GET' && !url.pathname.startsWith('/api/')) {
        url.searchParams.delete('token');
        response.writeHead(303, {
          location: `${options.prefix ?? ''}${url.pathname}${url.search}`,
          'cache-control': 'no-store',
        });
        response.end();
        return false;
      }
      return true;
    }
    sendError(
      response,
      'unauthorized',
      {
        message:
          'this aggregator requires its API token: send "Authorization: Bearer <token>", or open the ' +
          'dashboard once with ?token=<token>',
      },
      { 'www-authenticate': 'Bearer realm="engine-link"' },
    );
    return false;
  };
}
