import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { sendError } from '../http/httpErrors.ts';

export interface OriginGuardOptions {
  /**
   * The address the server listens on; a wildcard (`0.0.0.0`, `::`) stands for every local address.
   * Undefined (a handler mounted in someone else's server): the address each request arrived at.
   */
  host: string | undefined;
  /** Whether the server speaks TLS (the default port of a Host without one). */
  secure: boolean;
  /** Addresses the server is also reached at (a reverse proxy, a DNS name): their host and port are its own. */
  publicUrls?: readonly string[];
}

/** Paths answered whoever asks (health checks carry whatever Host their prober uses). */
const OPEN_PATHS = new Set(['/healthz']);

const WILDCARDS = new Set(['0.0.0.0', '::', '0:0:0:0:0:0:0:0']);

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** Lower case, IPv6 without brackets: how host names are compared. */
function normalHost(host: string): string {
  const lower = host.toLowerCase();
  return lower.startsWith('[') && lower.endsWith(']') ? lower.slice(1, -1) : lower;
}

/** Every address of this machine's interfaces, read again at most every 10 s. */
const localAddresses = (() => {
  let cached: { at: number; addresses: Set<string> } | undefined;
  return (): Set<string> => {
    const now = Date.now();
    if (!cached || now - cached.at > 10_000) {
      const addresses = new Set<string>(['localhost']);
      for (const list of Object.values(networkInterfaces()))
        for (const entry of list ?? []) addresses.add(normalHost(entry.address.split('%')[0]!));
      cached = { at: now, addresses };
    }
    return cached.addresses;
  };
})();

/** A Host header's name and port (undefined: none given), or undefined when it is malformed. */
function hostOf(header: string): { host: string; port: number | undefined } | undefined {
  try {
    const url = new URL(`http://${header}`);
    if (url.pathname !== '/' || url.username || url.search || url.hash) return undefined;
    // URL drops port 80 as http:'s default; a Host that says :80 means it.
    const explicit = /:(\d+)$/.exec(header)?.[1];
    return { host: normalHost(url.hostname), port: explicit === undefined ? undefined : Number(explicit) };
  } catch {
    return undefined;
  }
}

/**
 * Refuses requests a browser was tricked into sending, whether or not an API token is set (a browser that
 * holds the dashboard's cookie sends it along):
 *
 * - DNS rebinding: the `Host` must name one of the server's addresses (the address it listens on; every
 *   interface address for a wildcard; `localhost`, `127.0.0.1`, `::1` for a loopback one) or the host of
 *   one of its `publicUrls`. The port is not checked: a port mapping or a TCP proxy in front changes it,
 *   and a rebinding attack needs a name, not a port.
 * - Cross-site requests: an `Origin`, when sent, must be the page's own origin, that of the `Host` the
 *   request was sent to (same name and port), or one of the `publicUrls`.
 *
 * `request` answers such a request with 403 and returns false; `upgradeRefusal` says why an engine link
 * upgrade with a foreign `Origin` is refused (engines send none; a browser always does).
 */
export function originGuard(options: OriginGuardOptions): {
  request(request: IncomingMessage, response: ServerResponse): boolean;
  upgradeRefusal(request: IncomingMessage): string | undefined;
} {
  const configuredHost = options.host === undefined ? undefined : normalHost(options.host);
  const publicUrls = (options.publicUrls ?? []).map((text) => new URL(text));
  const publicHosts = new Set(publicUrls.map((url) => normalHost(url.hostname)));
  const publicOrigins = new Set(publicUrls.map((url) => url.origin));
  const defaultPort = (protocol: string) => (protocol === 'https:' ? 443 : 80);

  const ownHost = (host: string, listenHost: string): boolean => {
    if (publicHosts.has(host)) return true;
    if (WILDCARDS.has(listenHost)) return localAddresses().has(host);
    if (isLoopback(listenHost)) return isLoopback(host) || host === listenHost;
    return host === listenHost;
  };

  const hostRefusal = (header: string | undefined, listenHost: string): string | undefined => {
    const host = header === undefined ? undefined : hostOf(header);
    if (host && ownHost(host.host, listenHost)) return undefined;
    return (
      `Host ${JSON.stringify(header ?? '')} is not an address of this aggregator (a DNS rebinding ` +
      'attempt, or a name it was not told of): start the aggregator with --public-url <its URL> to allow it'
    );
  };

  const originRefusal = (origin: string | undefined, header: string | undefined): string | undefined => {
    if (origin === undefined) return undefined;
    let from: URL | undefined;
    try {
      from = new URL(origin);
    } catch {
      from = undefined;
    }
    if (from && publicOrigins.has(from.origin)) return undefined;
    const host = header === undefined ? undefined : hostOf(header);
    const samePage =
      from !== undefined &&
      host !== undefined &&
      normalHost(from.hostname) === host.host &&
      (from.port ? Number(from.port) : defaultPort(from.protocol)) ===
        (host.port ?? (options.secure ? 443 : 80));
    return samePage
      ? undefined
      : `cross-origin request refused: Origin ${origin} is not this aggregator's (only its own pages may call its API)`;
  };

  return {
    request: (request, response) => {
      const path = (request.url ?? '/').split('?')[0]!;
      if (OPEN_PATHS.has(path)) return true;
      const { host, origin } = request.headers;
      const listenHost =
        configuredHost ?? normalHost((request.socket.localAddress ?? '').replace(/^::ffff:/, ''));
      const problem = hostRefusal(host, listenHost) ?? originRefusal(origin, host);
      if (problem === undefined) return true;
      sendError(response, 'forbidden', { message: problem });
      return false;
    },
    upgradeRefusal: (request) => originRefusal(request.headers.origin, request.headers.host),
  };
}
