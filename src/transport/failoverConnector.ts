import type { Connector, ConnectRequest, EngineTransport, NextAttempt } from './sides.ts';
import { aggregatorUrl, WebSocketConnector, type WebSocketConnectorOptions } from './webSocketTransport.ts';

/** One aggregator a `FailoverConnector` may connect to: its URL (as shown) and how to reach it. */
export interface FailoverTarget {
  url: string;
  connector: Connector;
}

/** Options of the `FailoverConnector`. */
export interface FailoverConnectorOptions {
  /** Randomness for the order the targets are tried in (tests pass a seeded one). Default Math.random. */
  random?: () => number;
}

/** Rounds counted since the link was last up are bounded (the backoff is at its cap long before). */
const MAX_COUNTED_ROUNDS = 64;

/**
 * A connector over several aggregators (nodes sharing one store), so an engine re-homes when its node
 * dies. The targets are tried in an order shuffled once per connector (engines spread over the nodes),
 * cyclically from where the last attempt was:
 *
 * - An attempt that fails (refused, unreachable, timed out, `busy`) moves on to the next target at once,
 *   until every target has been tried once: that is a round. Between rounds the link waits the usual
 *   backoff (`retry` of the dispatcher), counted in rounds: with one target, exactly as before.
 * - A link that was up and went down moves on to the next target after the first backoff (jittered, so
 *   the engines of a dead node do not reach the others all at once); the node it left comes last.
 * - A wait asked for (`busy` with `retryAfterMs`) holds for that node only: the next one is tried at once.
 *   Only when every target of a round asked to wait does the smallest such wait bound the backoff.
 */
export class FailoverConnector implements Connector {
  private readonly order: FailoverTarget[];
  private index = 0;
  /** Failed attempts in the current round. */
  private tried = 0;
  /** The waits asked for in the current round. */
  private readonly busy: number[] = [];
  /** Rounds ended since the link was last up. */
  private round = 0;
  /** The link is up on the current target (linkUp, not yet followed by nextAttempt). */
  private up = false;

  constructor(targets: readonly FailoverTarget[], options: FailoverConnectorOptions = {}) {
    if (targets.length === 0) throw new TypeError('a FailoverConnector needs at least one aggregator');
    const seen = new Set<string>();
    for (const { url } of targets) {
      if (seen.has(url)) throw new TypeError(`aggregator ${url} is given twice`);
      seen.add(url);
    }
    this.order = shuffled(targets, options.random ?? Math.random);
  }

  /** The URLs in the order they are tried (from the first). */
  get urls(): string[] {
    return this.order.map((t) => t.url);
  }

  get target(): string {
    return this.order[this.index]!.url;
  }

  /** @internal */
  connect(request: ConnectRequest): EngineTransport {
    return this.order[this.index]!.connector.connect(request);
  }

  /** @internal */
  linkUp(): void {
    this.up = true;
    this.newRound(0);
  }

  /** @internal */
  nextAttempt(retryAfterMs: number | null): NextAttempt {
    const n = this.order.length;
    this.index = (this.index + 1) % n;
    if (this.up) {
      this.up = false;
      this.newRound(1);
      // With one node, its wait is the only one there is (as without failover).
      return { hop: false, round: 0, retryAfterMs: n === 1 ? retryAfterMs : null };
    }
    this.tried++;
    if (retryAfterMs !== null) this.busy.push(retryAfterMs);
    if (this.tried < n) return { hop: true };
    const next: NextAttempt = {
      hop: false,
      round: this.round,
      retryAfterMs: this.busy.length === n ? Math.min(...this.busy) : null,
    };
    this.newRound(Math.min(this.round + 1, MAX_COUNTED_ROUNDS));
    return next;
  }

  private newRound(round: number): void {
    this.round = round;
    this.tried = 0;
    this.busy.length = 0;
  }
}

/** Fisher–Yates, on a copy. */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * The connector for aggregator URLs (`ws://` or `wss://`): a `WebSocketConnector` for one, a
 * `FailoverConnector` over one `WebSocketConnector` each for several. A URL given twice (the same once
 * parsed, such as `ws://a:8080` and `ws://a:8080/`) is a TypeError.
 */
export function webSocketConnectorFor(
  urls: string | readonly string[],
  options: WebSocketConnectorOptions & FailoverConnectorOptions = {},
): Connector {
  const list = typeof urls === 'string' ? [urls] : urls;
  const { random, ...socketOptions } = options;
  if (list.length === 1) return new WebSocketConnector(list[0]!, socketOptions);
  const targets = list.map((text) => {
    const url = aggregatorUrl(text).href;
    return { url, connector: new WebSocketConnector(url, socketOptions) };
  });
  return new FailoverConnector(targets, { random });
}
