import { EventEmitter } from 'eventemitter3';
import { type ClientSession, OPCUACertificateManager, OPCUAClient } from 'node-opcua';
import type { ResolvedSecurity } from './security.ts';
import { OpcUaHardwareError, toLayerError } from './statusCodes.ts';

export interface OpcUaConnectionOptions {
  endpointUrl: string;
  security: ResolvedSecurity;
  applicationName: string;
  pkiDir: string;
  trustUnknownServerCertificates: boolean;
  keepAliveMs: number;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  sessionTimeoutMs: number;
  closeTimeoutMs: number;
}

/** Where the link is: `lost` when it broke under us (server gone, keep-alive failed) until closed. */
export type OpcUaLinkState = 'closed' | 'opening' | 'open' | 'lost' | 'closing';

export interface OpcUaConnectionEvents {
  /** The open link broke: the server closed it, the socket died, or the session keep-alive failed. */
  lost: [reason: Error];
}

/** One attempt at a link: a node-opcua client (they cannot be reused once disconnected) and its session. */
interface Link {
  readonly client: OPCUAClient;
  session: ClientSession | undefined;
  /** Rejects the attempt's connect at once (disconnect() called while connecting). */
  abort(reason: Error): void;
  readonly aborted: Promise<never>;
}

/**
 * The client side of one OPC UA session, opened and closed idempotently (Open-Pectus issue #432: an
 * OPC UA layer that failed to reconnect because disconnect was not). node-opcua's own reconnection is
 * off (`maxRetry: 0`): `HardwareRecovery` owns reconnecting, so a broken link is reported (`lost`) and
 * left for the next `open()`, which starts a fresh client.
 *
 * - `open()` while open resolves at once; while opening, joins the attempt; after a loss, drops the dead
 *   link first. It gives up after `connectTimeoutMs` (a black-holed server never answers).
 * - `close()` while closed resolves at once; while opening, aborts the attempt; it never hangs on a dead
 *   link (each step is bounded by `closeTimeoutMs`) and never rejects.
 * - The session's keep-alive reads the server state every `keepAliveMs` when nothing else was heard;
 *   a read unanswered within `requestTimeoutMs` breaks the link (a half-open link is noticed).
 */
export class OpcUaConnection extends EventEmitter<OpcUaConnectionEvents> {
  private linkState: OpcUaLinkState = 'closed';
  private current: Link | undefined;
  private opening: Promise<ClientSession> | undefined;
  private closing: Promise<void> | undefined;
  private lostReason: Error | undefined;

  constructor(private readonly options: OpcUaConnectionOptions) {
    super();
  }

  get state(): OpcUaLinkState {
    return this.linkState;
  }

  /** The open session; a fault (`OpcUaHardwareError`) when there is none, without touching the network. */
  session(what: string): ClientSession {
    const session = this.current?.session;
    if (this.linkState === 'open' && session) return session;
    if (this.linkState === 'lost')
      throw new OpcUaHardwareError(
        `${what}: the OPC UA link was lost (${this.lostReason?.message})`,
        'BadConnectionClosed',
      );
    throw new OpcUaHardwareError(
      `${what}: not connected to ${this.options.endpointUrl}`,
      'BadServerNotConnected',
    );
  }

  open(): Promise<ClientSession> {
    const session = this.current?.session;
    if (this.linkState === 'open' && session) return Promise.resolve(session);
    this.opening ??= this.openNow().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  close(): Promise<void> {
    if (this.linkState === 'closed' && !this.opening) return this.closing ?? Promise.resolve();
    this.closing ??= this.closeNow().finally(() => {
      this.closing = undefined;
    });
    return this.closing;
  }

  private async openNow(): Promise<ClientSession> {
    if (this.closing) await this.closing;
    const dead = this.linkState === 'lost' ? this.current : undefined;
    if (dead) {
      this.current = undefined;
      this.linkState = 'closed';
      await this.teardown(dead);
    }
    const link = this.newLink();
    this.current = link;
    this.linkState = 'opening';
    const { endpointUrl, connectTimeoutMs } = this.options;
    try {
      const connected = (async () => {
        await link.client.connect(endpointUrl);
        link.session = await link.client.createSession(this.options.security.identity);
      })();
      await bounded(connected, connectTimeoutMs, link.aborted, () => {
        return new OpcUaHardwareError(`no answer within ${connectTimeoutMs} ms`, 'BadTimeout');
      });
    } catch (error) {
      await this.teardown(link);
      if (this.current === link) {
        this.current = undefined;
        this.linkState = 'closed';
      }
      throw toLayerError(error, `OPC UA: cannot connect to ${endpointUrl}`);
    }
    if (this.current !== link) {
      await this.teardown(link);
      throw new OpcUaHardwareError('OPC UA: connect abandoned: disconnect() was called', 'BadShutdown');
    }
    this.linkState = 'open';
    this.lostReason = undefined;
    link.session!.on('keepalive_failure', () =>
      this.lose(link, new Error('the session keep-alive got no answer from the server')),
    );
    return link.session!;
  }

  private async closeNow(): Promise<void> {
    const link = this.current;
    const wasOpening = this.linkState === 'opening';
    this.current = undefined;
    this.linkState = 'closing';
    if (link && wasOpening) {
      // The attempt tears its own link down when it sees it was abandoned.
      link.abort(new OpcUaHardwareError('OPC UA: connect abandoned: disconnect() was called', 'BadShutdown'));
      await this.opening?.catch(() => {});
    } else if (link) await this.teardown(link);
    this.linkState = 'closed';
  }

  private newLink(): Link {
    const { security, keepAliveMs, requestTimeoutMs, sessionTimeoutMs, pkiDir } = this.options;
    const clientCertificateManager = new OPCUACertificateManager({
      automaticallyAcceptUnknownCertificate: this.options.trustUnknownServerCertificates,
      disableFileWatchers: true,
      rootFolder: pkiDir,
    });
    const client = OPCUAClient.create({
      applicationName: this.options.applicationName,
      clientCertificateManager,
      securityMode: security.securityMode,
      securityPolicy: security.securityPolicy,
      // The recovery reconnects (with its own backoff): the client only reports a broken link.
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 1000 },
      // Connect through proxies and NAT: the address we were given, whatever the server advertises.
      endpointMustExist: false,
      keepSessionAlive: true,
      keepAliveInterval: keepAliveMs,
      defaultTransactionTimeout: requestTimeoutMs,
      requestedSessionTimeout: sessionTimeoutMs,
    });
    let abort: (reason: Error) => void = () => {};
    const aborted = new Promise<never>((_, reject) => {
      abort = reject;
    });
    aborted.catch(() => {});
    const link: Link = { client, session: undefined, abort, aborted };
    client.on('connection_lost', () => this.lose(link, new Error('the connection to the server was lost')));
    // Any close we did not ask for (ours first forget the link) is a loss, clean or not.
    client.on('close', (error) => this.lose(link, error ?? new Error('the server closed the connection')));
    return link;
  }

  private lose(link: Link, reason: Error): void {
    if (link !== this.current || this.linkState !== 'open') return;
    this.linkState = 'lost';
    this.lostReason = reason;
    // Release the dead client now (its keep-alive would go on pinging); the state stays lost until closed.
    void this.teardown(link);
    this.emit('lost', reason);
  }

  /** Closes a link's session and client, each step bounded: a dead link must not hold us up. */
  private async teardown(link: Link): Promise<void> {
    const ms = this.options.closeTimeoutMs;
    const step = (work: Promise<unknown>) =>
      bounded(work, ms, undefined, () => new Error('close timed out')).catch(() => {});
    if (link.session) await step(link.session.close(true));
    await step(link.client.disconnect());
  }
}

/** `work`, or a rejection after `ms` (with `timeout()`'s error) or when `abort` rejects, whichever is first. */
async function bounded<T>(
  work: Promise<T>,
  ms: number,
  abort: Promise<never> | undefined,
  timeout: () => Error,
): Promise<T> {
  work.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeout()), ms);
  });
  try {
    return await Promise.race(abort ? [work, expired, abort] : [work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
