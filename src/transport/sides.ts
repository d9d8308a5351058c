import { DEFAULT_MAX_FRAME_BYTES, decodeAggregatorMessage, decodeEngineMessage } from '../protocol/codec.ts';
import type { AggregatorMessage, EngineMessage } from '../protocol/messages.ts';
import { Transport } from './transport.ts';

/** The engine's end of a link: receives aggregator messages, sends engine messages. */
export type EngineTransport = Transport<AggregatorMessage, EngineMessage>;
/** The aggregator's end of a link: receives engine messages, sends aggregator messages. */
export type AggregatorTransport = Transport<EngineMessage, AggregatorMessage>;

/** Who is asking to connect: checked by the aggregator before a connection opens. */
export interface ConnectRequest {
  engineId: string;
  token?: string;
}

/**
 * What the link does after an attempt failed or its link went down, as a connector over several
 * aggregators decides (see FailoverConnector): try the next one at once (`hop`), or wait the backoff of
 * `round` (at least `retryAfterMs`, when given) before the next round.
 */
export type NextAttempt = { hop: true } | { hop: false; round: number; retryAfterMs: number | null };

/** Opens links to an aggregator. Each call starts one attempt; the transport reports open or close. */
export interface Connector {
  /** @internal */
  connect(request: ConnectRequest): EngineTransport;
  /** Where the next `connect` goes (an aggregator's URL), told in the dispatcher's stats; absent: untold. */
  readonly target?: string;
  /** @internal The link came up on `target`. */
  linkUp?(): void;
  /**
   * @internal The attempt on `target` failed (`retryAfterMs`: the wait it asked for), or its link went
   * down: moves to the next target and says how long to wait. Absent: one target, the usual backoff.
   */
  nextAttempt?(retryAfterMs: number | null): NextAttempt;
}

export type AuthDecision =
  | { ok: true }
  | { ok: false; status: number; message: string; retryAfterMs?: number };

/**
 * The aggregator as a transport sees it: a gatekeeper, then a home for accepted connections.
 *
 * @internal
 */
export interface Acceptor {
  authorize(request: ConnectRequest): AuthDecision;
  accept(transport: AggregatorTransport, request: ConnectRequest): void;
}

export abstract class EngineSideTransport extends Transport<AggregatorMessage, EngineMessage> {
  constructor(maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    super(decodeAggregatorMessage, maxFrameBytes);
  }
}

export abstract class AggregatorSideTransport extends Transport<EngineMessage, AggregatorMessage> {
  constructor(maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    super(decodeEngineMessage, maxFrameBytes);
  }
}
