import { DEFAULT_MAX_FRAME_BYTES, decodeAggregatorMessage, decodeEngineMessage } from '../protocol/codec.ts';
import type { AggregatorMessage, EngineMessage } from '../protocol/messages.ts';
import { type Clock, systemClock } from '../time/clock.ts';
import type { Acceptor, Connector, ConnectRequest } from './sides.ts';
import { type CloseInfo, type FrameDecoder, Transport } from './transport.ts';

/** Close code for a link that ended without a close handshake (RFC 6455: abnormal closure). */
const ABNORMAL = 1006;

/** What a link needs of each end. */
export interface Peer {
  receive(text: string): void;
  closed(info: CloseInfo): void;
}

/** One simulated link: two transports joined by a pair of one-way frame queues. */
class MemoryLink {
  /** Half-open: frames vanish and closes are not told to the other side. */
  blackholed = false;
  private lastDelivery = { toAggregator: 0, toEngine: 0 };
  readonly engine: MemoryEngineTransport;
  readonly aggregator: MemoryAggregatorTransport;

  constructor(
    readonly network: MemoryNetwork,
    maxFrameBytes: number,
  ) {
    this.engine = new MemoryEnd(this, decodeAggregatorMessage, maxFrameBytes);
    this.aggregator = new MemoryEnd(this, decodeEngineMessage, maxFrameBytes);
  }

  carry(from: Peer, text: string): void {
    if (this.blackholed) return;
    const to: Peer = from === this.engine ? this.aggregator : this.engine;
    const direction = from === this.engine ? 'toAggregator' : 'toEngine';
    this.network.framesCarried++;
    this.schedule(direction, () => {
      if (!this.blackholed) to.receive(text);
    });
  }

  hangUp(from: Peer, code: number, reason: string): void {
    const to: Peer = from === this.engine ? this.aggregator : this.engine;
    from.closed({ code, reason });
    if (this.blackholed) return;
    const direction = from === this.engine ? 'toAggregator' : 'toEngine';
    this.schedule(direction, () => to.closed({ code, reason }));
  }

  /** Both ends learn at once that the link broke (like a reset). */
  break(code = ABNORMAL, reason = 'link closed'): void {
    this.engine.closed({ code, reason });
    this.aggregator.closed({ code, reason });
  }

  /** Frames keep their order per direction, even when the delay changes between them. */
  private schedule(direction: 'toAggregator' | 'toEngine', deliver: () => void): void {
    const { clock, delayMs } = this.network;
    if (delayMs <= 0 && this.lastDelivery[direction] <= clock.now()) {
      queueMicrotask(deliver);
      return;
    }
    const at = Math.max(clock.now() + delayMs, this.lastDelivery[direction]);
    this.lastDelivery[direction] = at;
    clock.setTimeout(deliver, at - clock.now());
  }
}

/** What carries an end's frames and closes to the other end: a memory link, or the simulation's network. */
export interface FrameCarrier {
  carry(from: Peer, text: string): void;
  hangUp(from: Peer, code: number, reason: string): void;
}

/** One end of a memory link; which messages it reads depends on the decoder it is given. */
export class MemoryEnd<In, Out extends EngineMessage | AggregatorMessage> extends Transport<In, Out> {
  constructor(
    private readonly link: FrameCarrier,
    decode: FrameDecoder<In>,
    maxFrameBytes: number,
  ) {
    super(decode, maxFrameBytes);
  }
  get bufferedAmount(): number {
    return 0;
  }
  protected write(text: string): void {
    this.link.carry(this, text);
  }
  protected end(code: number, reason: string): void {
    this.link.hangUp(this, code, reason);
  }
  /** @internal */ receive(text: string): void {
    this.handleFrame(text);
  }
  /** @internal */ opened(): void {
    this.handleOpen();
  }
  /** @internal */ closed(info: CloseInfo): void {
    this.handleClose(info);
  }
}

/** The engine's end of a memory link. */
export type MemoryEngineTransport = MemoryEnd<AggregatorMessage, EngineMessage>;
/** The aggregator's end of a memory link. */
export type MemoryAggregatorTransport = MemoryEnd<EngineMessage, AggregatorMessage>;

/** A link's two memory ends, as a connect offers them to the aggregator. */
export interface MemoryEnds {
  readonly engine: MemoryEngineTransport;
  readonly aggregator: MemoryAggregatorTransport;
}

/**
 * Offers a connect to the aggregator, as a listening socket would: refused (nobody listening, or the
 * network refusing) or not authorized, the engine's end is told why and nothing opens; otherwise
 * `accepted` runs, then both ends open and the acceptor takes the aggregator's end. The memory network
 * and the simulation's network share it. Returns whether the link opened.
 */
export function offerConnect(
  acceptor: Acceptor | undefined,
  refusing: boolean,
  ends: MemoryEnds,
  request: ConnectRequest,
  accepted: () => void = () => {},
): boolean {
  if (refusing || !acceptor) {
    ends.engine.closed({
      code: ABNORMAL,
      reason: 'connection refused',
      refused: { status: 0, message: 'connection refused' },
    });
    return false;
  }
  const decision = acceptor.authorize(request);
  if (!decision.ok) {
    ends.engine.closed({
      code: ABNORMAL,
      reason: decision.message,
      refused: { status: decision.status, message: decision.message, retryAfterMs: decision.retryAfterMs },
    });
    return false;
  }
  accepted();
  ends.aggregator.opened();
  acceptor.accept(ends.aggregator, request);
  ends.engine.opened();
  return true;
}

/** Options of the `MemoryNetwork`. */
export interface MemoryNetworkOptions {
  clock?: Clock;
  maxFrameBytes?: number;
}

/**
 * An in-memory network between engines and one aggregator, with faults on demand: close every link,
 * black-hole them (half-open), delay frames, refuse connects. The aggregator side is any `Acceptor`, so
 * the same aggregator code runs over it as over WebSocket.
 */
export class MemoryNetwork implements Connector {
  readonly clock: Clock;
  delayMs = 0;
  framesCarried = 0;
  private acceptor: Acceptor | undefined;
  private readonly maxFrameBytes: number;
  private readonly links = new Set<MemoryLink>();
  private refusing = false;
  /** New connects wait (as in a black hole, or until a test releases them). */
  private holding = false;
  private readonly pending = new Map<MemoryLink, ConnectRequest>();

  constructor(options: MemoryNetworkOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Attaches the aggregator (or detaches it with `undefined`: connects are then refused). */
  listen(acceptor: Acceptor | undefined): void {
    this.acceptor = acceptor;
  }

  /** @internal */
  connect(request: ConnectRequest): MemoryEngineTransport {
    const link = new MemoryLink(this, this.maxFrameBytes);
    queueMicrotask(() => this.open(link, request));
    return link.engine;
  }

  /** Links currently open at both ends. */
  get openLinks(): number {
    let n = 0;
    for (const link of this.links) if (link.engine.state === 'open' && !link.blackholed) n++;
    return n;
  }

  /** Every open link breaks; both ends are told. */
  closeAll(reason = 'link closed'): void {
    for (const link of this.links) link.break(ABNORMAL, reason);
    this.links.clear();
  }

  /** Every open link goes half-open: frames vanish, nobody is told. New connects hang until lifted. */
  blackhole(): void {
    this.holding = true;
    for (const link of this.links) link.blackholed = true;
    this.links.clear();
  }

  /**
   * Ends every fault: no black hole, no refusal, no delay. Links already swallowed stay dead (as after a
   * NAT reset); connects still waiting go through.
   */
  restore(): void {
    this.holding = false;
    this.refusing = false;
    this.delayMs = 0;
    this.releaseConnects();
  }

  /** New connects wait until `releaseConnects()` (or `restore()`); open links are not touched. */
  holdConnects(hold = true): void {
    this.holding = hold;
  }

  /** Connects waiting so far proceed now (to the acceptor, or refused); returns how many. */
  releaseConnects(): number {
    const waiting = [...this.pending];
    this.pending.clear();
    let released = 0;
    for (const [link, request] of waiting) {
      // A connect the engine gave up on meanwhile is closed already: nothing to do.
      if (link.engine.state !== 'connecting') continue;
      released++;
      this.openNow(link, request);
    }
    return released;
  }

  /** New connects fail at once (connection refused); open links are not touched. */
  refuseConnects(refuse = true): void {
    this.refusing = refuse;
  }

  private open(link: MemoryLink, request: ConnectRequest): void {
    if (link.engine.state !== 'connecting') return;
    if (this.holding) {
      this.pending.set(link, request);
      return;
    }
    this.openNow(link, request);
  }

  private openNow(link: MemoryLink, request: ConnectRequest): void {
    offerConnect(this.acceptor, this.refusing, link, request, () => {
      this.links.add(link);
      link.engine.once('close', () => this.links.delete(link));
    });
  }
}
