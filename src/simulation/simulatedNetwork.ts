import { DEFAULT_MAX_FRAME_BYTES, decodeAggregatorMessage, decodeEngineMessage } from '../protocol/codec.ts';
import type { AggregatorMessage, EngineMessage } from '../protocol/messages.ts';
import type { Clock } from '../time/clock.ts';
import { type FrameCarrier, MemoryEnd, offerConnect, type Peer } from '../transport/memoryTransport.ts';
import type { Acceptor, Connector, ConnectRequest, EngineTransport } from '../transport/sides.ts';
import type { CloseInfo } from '../transport/transport.ts';
import type { Random } from './random.ts';
import type { Task } from './scheduler.ts';

/** RFC 6455: a link that ended without a close handshake. */
const ABNORMAL = 1006;
/** RFC 6455: a protocol error (what `ws` closes with when a frame's bytes make no sense). */
const PROTOCOL_ERROR = 1002;

export type NetworkMode = 'pass' | 'blackhole' | 'stall' | 'refuse';

type Delivery =
  /** `broken`: the corruption hit the WebSocket framing, and the receiver fails the link. */
  | { kind: 'frame'; text: string; readyAt: number; broken?: boolean }
  | { kind: 'close'; info: CloseInfo; readyAt: number };

/** One direction of one link: what is on its way, in order. */
interface Flow {
  readonly name: string;
  readonly to: MemoryEnd<unknown, EngineMessage | AggregatorMessage>;
  queue: Delivery[];
  /** When the last delivery queued becomes ready (order is kept: no delivery overtakes another). */
  lastReadyAt: number;
}

/** One connection: two ends and a flow each way. */
class SimulatedLink implements FrameCarrier {
  readonly engine: MemoryEnd<AggregatorMessage, EngineMessage>;
  readonly aggregator: MemoryEnd<EngineMessage, AggregatorMessage>;
  readonly toAggregator: Flow;
  readonly toEngine: Flow;
  /** Half-open: frames and closes vanish; neither side is told anything. */
  swallowed = false;

  constructor(
    readonly network: SimulatedNetwork,
    readonly id: number,
    readonly request: ConnectRequest,
    readonly owner: string,
  ) {
    this.engine = new MemoryEnd(this, decodeAggregatorMessage, DEFAULT_MAX_FRAME_BYTES);
    this.aggregator = new MemoryEnd(this, decodeEngineMessage, DEFAULT_MAX_FRAME_BYTES);
    const tag = `${request.engineId}#${id}`;
    this.toAggregator = { name: `${tag}>agg`, to: this.aggregator, queue: [], lastReadyAt: 0 };
    this.toEngine = { name: `${tag}<agg`, to: this.engine, queue: [], lastReadyAt: 0 };
  }

  carry(from: Peer, text: string): void {
    if (this.swallowed || this.network.mode === 'blackhole') {
      this.swallowed = true;
      return;
    }
    this.network.enqueue(from === this.engine ? this.toAggregator : this.toEngine, text);
  }

  hangUp(from: Peer, code: number, reason: string): void {
    from.closed({ code, reason });
    if (this.swallowed || this.network.mode === 'blackhole') return;
    const flow = from === this.engine ? this.toAggregator : this.toEngine;
    flow.queue.push({
      kind: 'close',
      info: { code, reason },
      readyAt: Math.max(flow.lastReadyAt, this.network.clock.now()),
    });
  }

  /** Both ends learn at once that the link broke (a reset); what was on its way is lost. */
  reset(code = ABNORMAL, reason = 'connection reset'): void {
    this.toAggregator.queue = [];
    this.toEngine.queue = [];
    this.engine.closed({ code, reason });
    this.aggregator.closed({ code, reason });
  }

  get ended(): boolean {
    return this.engine.state === 'closed' && this.aggregator.state === 'closed';
  }
}

/**
 * The simulation's network: the in-memory network's idea (two `Transport` ends joined by frame
 * queues) with every fault the TCP fault proxy has, and no delivery of its own: every connect, frame
 * and close waits until the scheduler picks it (`tasks()`), so links interleave with each other, with
 * timers and with the aggregator's commits in any order the seed draws. Per link and direction, order is
 * kept (TCP).
 *
 * Faults, as the fault proxy names them: `reset()` (cut: RST both ways), `closeConnections()` (FIN
 * after what is queued), `mode` blackhole (half-open: nothing arrives, nobody is told; new connects hang),
 * stall (nothing moves, nothing is lost), refuse (connects fail, open links reset), `delayMs`,
 * `trickleBytesPerSecond`, `corruptRate` (per frame: one character changed, which the frame checksum
 * must catch; one time in ten the bytes hit the WebSocket framing and the link fails with 1002).
 */
export class SimulatedNetwork {
  mode: NetworkMode = 'pass';
  delayMs = 0;
  trickleBytesPerSecond = 0;
  corruptRate = 0;
  readonly stats = { frames: 0, corrupted: 0, resets: 0, swallowed: 0 };
  private acceptor: Acceptor | undefined;
  private readonly links = new Map<number, SimulatedLink>();
  private readonly connects: SimulatedLink[] = [];
  private nextId = 1;

  constructor(
    readonly clock: Clock,
    private readonly random: Random,
  ) {}

  /** Attaches the aggregator, or detaches it (`undefined`: connects are refused, as by a closed port). */
  listen(acceptor: Acceptor | undefined): void {
    this.acceptor = acceptor;
  }

  /** How one engine process connects: its links are its own, and die with it (`killOwner`). */
  connectorFor(owner: string): Connector {
    return {
      connect: (request: ConnectRequest): EngineTransport => {
        const link = new SimulatedLink(this, this.nextId++, request, owner);
        this.links.set(link.id, link);
        this.connects.push(link);
        return link.engine;
      },
    };
  }

  /**
   * Every link and connect of an engine process that died: the dead end hears nothing more, the
   * aggregator learns it as a reset (unless the link was swallowed by a black hole).
   */
  killOwner(owner: string): void {
    for (const link of this.links.values()) {
      if (link.owner !== owner) continue;
      link.engine.removeAllListeners();
      if (link.swallowed) link.engine.closed({ code: ABNORMAL, reason: 'process died' });
      else link.reset(ABNORMAL, 'peer process died');
    }
    this.connects.splice(0, this.connects.length, ...this.connects.filter((link) => link.owner !== owner));
    this.prune();
  }

  /** The aggregator process died: its ends hear nothing more, engines learn it as a reset. */
  killAggregatorSide(): void {
    for (const link of this.links.values()) {
      link.aggregator.removeAllListeners();
      if (link.swallowed) link.aggregator.closed({ code: ABNORMAL, reason: 'process died' });
      else link.reset(ABNORMAL, 'aggregator process died');
    }
    this.prune();
  }

  /** Every open link is reset (the aggregator died, or the proxy's `cut()`). */
  reset(reason = 'connection reset'): void {
    for (const link of this.links.values()) if (!link.swallowed) link.reset(ABNORMAL, reason);
    this.stats.resets++;
    this.prune();
  }

  /** Every open link closes cleanly, after what is on its way (FIN both ways). */
  closeConnections(): void {
    for (const link of this.links.values()) {
      if (link.swallowed) continue;
      if (link.engine.state === 'open') link.engine.close(1001, 'connection closed');
      if (link.aggregator.state === 'open') link.aggregator.close(1001, 'connection closed');
    }
  }

  /** A fault's mode; `refuse` resets what is open, `blackhole` swallows it. */
  setMode(mode: NetworkMode): void {
    this.mode = mode;
    if (mode === 'refuse') this.reset('connection refused');
    if (mode === 'blackhole')
      for (const link of this.links.values()) {
        link.swallowed = true;
        this.stats.swallowed++;
      }
  }

  /** No fault any more; links swallowed by a black hole stay dead (until their ends time out). */
  restore(): void {
    this.mode = 'pass';
    this.delayMs = 0;
    this.trickleBytesPerSecond = 0;
    this.corruptRate = 0;
  }

  /** @internal */ enqueue(flow: Flow, text: string): void {
    this.stats.frames++;
    let carried = text;
    let broken = false;
    if (this.corruptRate > 0 && this.random.chance(this.corruptRate)) {
      this.stats.corrupted++;
      broken = this.random.chance(0.1);
      const at = this.random.int(0, text.length - 1);
      const replaced = String.fromCharCode(32 + ((text.charCodeAt(at) - 32 + this.random.int(1, 94)) % 95));
      carried = text.slice(0, at) + replaced + text.slice(at + 1);
    }
    const transfer =
      this.trickleBytesPerSecond > 0 ? Math.ceil((text.length * 1000) / this.trickleBytesPerSecond) : 0;
    const readyAt = Math.max(flow.lastReadyAt, this.clock.now() + this.delayMs) + transfer;
    flow.lastReadyAt = readyAt;
    flow.queue.push({ kind: 'frame', text: carried, readyAt, broken });
  }

  /** What may happen now: a connect to answer, or the next delivery of a flow whose time has come. */
  tasks(now: number, out: Task[]): void {
    if (this.mode !== 'stall' && this.mode !== 'blackhole')
      for (const link of this.connects)
        out.push({ label: `open ${link.request.engineId}#${link.id}`, run: () => this.open(link) });
    if (this.mode === 'stall') return;
    for (const link of this.links.values()) {
      if (link.swallowed) continue;
      for (const flow of [link.toAggregator, link.toEngine]) {
        const head = flow.queue[0];
        if (head && head.readyAt <= now)
          out.push({ label: `${head.kind} ${flow.name}`, run: () => this.deliver(link, flow) });
      }
    }
  }

  /** When the next delivery that waits for time becomes ready (undefined: none waits). */
  nextReadyAt(now: number): number | undefined {
    if (this.mode === 'stall') return undefined;
    let next: number | undefined;
    for (const link of this.links.values()) {
      if (link.swallowed) continue;
      for (const flow of [link.toAggregator, link.toEngine]) {
        const at = flow.queue[0]?.readyAt;
        if (at !== undefined && at > now && (next === undefined || at < next)) next = at;
      }
    }
    return next;
  }

  /** Links not yet ended (swallowed ones included). */
  get openLinks(): number {
    let n = 0;
    for (const link of this.links.values()) if (!link.ended) n++;
    return n;
  }

  private deliver(link: SimulatedLink, flow: Flow): void {
    const delivery = flow.queue.shift();
    if (!delivery) return;
    if (delivery.kind === 'close') flow.to.closed(delivery.info);
    else if (delivery.broken) link.reset(PROTOCOL_ERROR, 'invalid WebSocket frame');
    else flow.to.receive(delivery.text);
    this.prune();
  }

  private open(link: SimulatedLink): void {
    this.connects.splice(this.connects.indexOf(link), 1);
    if (link.engine.state !== 'connecting') return;
    offerConnect(this.acceptor, this.mode === 'refuse', link, link.request);
  }

  private prune(): void {
    for (const [id, link] of this.links)
      if (link.ended && link.toAggregator.queue.length + link.toEngine.queue.length === 0)
        this.links.delete(id);
  }
}
