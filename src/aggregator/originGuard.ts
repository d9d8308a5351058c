import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { sendJson } from './httpApi.ts';

export interface OriginGuardOptions {
  /** The address the server listens on; a wildcard (`0.0.0.0`, `::`) stands for every local address. */
  host: string;
  port: number;
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

/**
 * Refuses requests a browser was tricked into sending: cross-site requests (an `Origin` that is not this
 * server's own) and DNS rebinding (a `Host` that is not one of the addresses the server listens on or
 * one of its public URLs). The same whether or not an API token is set, since a browser that holds the
 * dashboard's cookie sends it along. `request` answers such a request with 403 and returns false;
 * `upgradeRefusal` says why an engine link upgrade with a foreign `Origin` is refused (engines send none;
 * a browser always does).
 *
 * The server's own authorities: the listening address and port (every interface address for a wildcard,
 * `localhost`/`127.0.0.1`/`::1` for a loopback one) and the host and port of each `publicUrls`.
 */
export function originGuard(options: OriginGuardOptions): {
  request(request: IncomingMessage, response: ServerResponse): boolean;
  upgradeRefusal(request: IncomingMessage): string | undefined;
} {
  const listenHost = normalHost(options.host);
  const publicAuthorities = (options.publicUrls ?? []).map((text) => {
    const url = new URL(text);
    // No port in the URL: whatever default port a proxy in front of the aggregator answers on.
    return { host: normalHost(url.hostname), port: url.port ? Number(url.port) : undefined };
  });

  /** `port` undefined: the Host header named none (the scheme's default port). */
  const ownAuthority = (host: string, port: number | undefined): boolean => {
    if (publicAuthorities.some((a) => a.host === host && a.port === port)) return true;
    if ((port ?? (options.secure ? 443 : 80)) !== options.port) return false;
    if (WILDCARDS.has(listenHost)) return localAddresses().has(host);
    if (isLoopback(listenHost)) return isLoopback(host) || host === listenHost;
    return host === listenHost;
  };

  /** The authority of a `Host` header, or undefined when it is malformed. */
  const hostOf = (header: string): { host: string; port: number | undefined } | undefined => {
    try {
      const url = new URL(`http://${header}`);
      if (url.pathname !== '/' || url.username || url.search || url.hash) return undefined;
      // URL drops port 80 of http: as the default; a Host that says :80 means it.
      const explicit = /:(\d+)$/.exec(header)?.[1];
      return { host: normalHost(url.hostname), port: explicit === undefined ? undefined : Number(explicit) };
    } catch {
      return undefined;
    }
  };

  const originRefusal = (origin: string | undefined): string | undefined => {
    if (origin === undefined) return undefined;
    let from: URL;
    try {
      from = new URL(origin);
    } catch {
      return `cross-origin request refused: Origin ${JSON.stringify(origin)}`;
    }
    const port = from.port ? Number(from.port) : undefined;
    if (!ownAuthority(normalHost(from.hostname), port))
      return `cross-origin request refused: ${origin} is not this aggregator (only its own pages may call its API)`;
    return undefined;
  };

  const hostRefusal = (hostHeader: string | undefined): string | undefined => {
    const host = hostHeader === undefined ? undefined : hostOf(hostHeader);
    if (host && ownAuthority(host.host, host.port)) return undefined;
    return (
      `Host ${JSON.stringify(hostHeader ?? '')} is not an address of this aggregator (a DNS rebinding ` +
      'attempt, or a name it was not told of): start the aggregator with --public-url <its URL> to allow it'
    );
  };

  return {
    request: (request, response) => {
      const path = (request.url ?? '/').split('?')[0]!;
      if (OPEN_PATHS.has(path)) return true;
      const problem = hostRefusal(request.headers.host) ?? originRefusal(request.headers.origin);
      if (problem === undefined) return true;
      sendJson(response, 403, { error: 'forbidden', message: problem });
      return false;
    },
    upgradeRefusal: (request) => originRefusal(request.headers.origin),
  };
}
