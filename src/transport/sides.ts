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

/** Opens links to an aggregator. Each call starts one attempt; the transport reports open or close. */
export interface Connector {
  /** @internal */
  connect(request: ConnectRequest): EngineTransport;
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
