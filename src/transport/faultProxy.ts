import net from 'node:net';

export type FaultMode = 'pass' | 'blackhole' | 'refuse' | 'stall';

/** Which way through the proxy: engine → aggregator (`upstream`) or back (`downstream`). */
export type FaultDirection = 'upstream' | 'downstream' | 'both';

export interface FaultProxyOptions {
  host?: string;
  port?: number;
  /** Randomness for byte corruption (pass a seeded one to repeat a run exactly). Default Math.random. */
  random?: () => number;
}

/** What the proxy has done so far. */
export interface FaultProxyStats {
  accepted: number;
  /** Connections reset (RST) by `cut()`/`reset()`/`refuse()`. */
  reset: number;
  /** Connections closed cleanly (FIN) by `closeConnections()`. */
  closed: number;
  /** Bytes swallowed by a black hole. */
  blackholedBytes: number;
  /** Bytes changed by `corrupt()`. */
  corruptedBytes: number;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  flows: Flow[];
}

/** Bytes queued in one direction before the proxy stops reading from the sender (TCP backpressure). */
const HIGH_WATER_BYTES = 64 * 1024;
/** Trickle: the proxy releases bytes at this period. */
const TRICKLE_TICK_MS = 50;

/**
 * One direction of one proxied connection: chunks wait here (delay, stall, trickle) and leave in order.
 */
class Flow {
  readonly queue: Array<{ due: number; data: Buffer }> = [];
  queuedBytes = 0;
  timer: NodeJS.Timeout | undefined;
  /** When the trickle budget was last topped up, and what is left of it (bytes). */
  budgetAt = 0;
  budget = 0;

  constructor(
    readonly from: net.Socket,
    readonly to: net.Socket,
    readonly direction: 'upstream' | 'downstream',
  ) {}
}

/**
 * A TCP proxy on loopback that breaks links on demand, for demos and fault tests without root.
 *
 * - `cut()` / `reset()`: every connection is reset (RST both ways); new ones pass.
 * - `closeConnections()`: every connection is closed cleanly (FIN both ways); new ones pass.
 * - `blackhole()`: connections stay open but carry nothing (a half-open link: no FIN, no RST, not even when
 *   one side closes); new ones hang.
 * - `stall()`: connections stay open and nothing moves; what was sent waits (the proxy stops reading, so
 *   TCP's own window fills up) and moves again, in order, on `restore()`.
 * - `refuse()`: new connections are reset at once; open ones are reset.
 * - `delayMs`: latency added to every chunk, each direction, order kept.
 * - `trickle(bytesPerSecond)`: each direction carries at most that many bytes per second.
 * - `corrupt(rate)`: each byte passing is replaced by a different random byte with probability `rate`.
 * - `restore()`: traffic flows again as it should (no delay, trickle or corruption).
 */
export class FaultProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<Pair>();
  /** Every socket open, forgotten ones (swallowed by a black hole) included: `close()` ends them all. */
  private readonly sockets = new Set<net.Socket>();
  private current: FaultMode = 'pass';
  private readonly random: () => number;
  private trickleBytesPerSecond = 0;
  private corruptRate = 0;
  private corruptDirection: FaultDirection = 'both';
  private readonly counters: FaultProxyStats = {
    accepted: 0,
    reset: 0,
    closed: 0,
    blackholedBytes: 0,
    corruptedBytes: 0,
  };
  /** Extra latency added to every chunk, each direction (order is kept). */
  delayMs = 0;

  constructor(
    private readonly target: { host: string; port: number },
    private readonly listen: FaultProxyOptions = {},
  ) {
    this.random = listen.random ?? Math.random;
  }

  get mode(): FaultMode {
    return this.current;
  }

  get connections(): number {
    return this.pairs.size;
  }

  get stats(): FaultProxyStats {
    return { ...this.counters };
  }

  async start(): Promise<{ host: string; port: number }> {
    const server = net.createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listen.port ?? 0, this.listen.host ?? '127.0.0.1', () => resolve());
    });
    const address = server.address() as net.AddressInfo;
    return { host: address.address, port: address.port };
  }

  /** Resets every open connection (RST both ways); new ones still pass. */
  cut(): void {
    for (const pair of this.pairs) {
      this.stopFlows(pair);
      pair.client.resetAndDestroy();
      pair.upstream.resetAndDestroy();
      this.counters.reset++;
    }
    this.pairs.clear();
  }

  /** Same as `cut()`: every open connection is reset. */
  reset(): void {
    this.cut();
  }

  /** Closes every open connection cleanly (FIN both ways, after what is queued); new ones still pass. */
  closeConnections(): void {
    for (const pair of this.pairs) {
      this.stopFlows(pair);
      for (const socket of [pair.client, pair.upstream]) {
        socket.end();
        // A stalled socket must read again to see the other side's FIN and close.
        socket.resume();
      }
      this.counters.closed++;
    }
    this.pairs.clear();
  }

  /** Open connections stay open but carry nothing; new connections hang. */
  blackhole(): void {
    if (this.current === 'stall') this.resumeAll();
    this.current = 'blackhole';
    for (const pair of this.pairs) for (const flow of pair.flows) this.swallow(flow);
  }

  /** Nothing moves, nothing is lost: the proxy stops reading until `restore()`. New connections wait too. */
  stall(): void {
    this.current = 'stall';
    for (const pair of this.pairs)
      for (const flow of pair.flows) {
        flow.from.pause();
        if (flow.timer) clearTimeout(flow.timer);
        flow.timer = undefined;
      }
  }

  /** New connections are reset at once; open ones are reset. */
  refuse(): void {
    this.current = 'refuse';
    this.cut();
  }

  /** Each direction carries at most `bytesPerSecond` (0: no limit). */
  trickle(bytesPerSecond: number): void {
    this.trickleBytesPerSecond = Math.max(0, bytesPerSecond);
    for (const pair of this.pairs)
      for (const flow of pair.flows) {
        flow.budgetAt = Date.now();
        flow.budget = 0;
      }
  }

  /** Replaces each byte passing (in `direction`) by a different random one with probability `rate` (0: off). */
  corrupt(rate: number, direction: FaultDirection = 'both'): void {
    if (!(rate >= 0 && rate <= 1)) throw new RangeError('corruption rate must be between 0 and 1');
    this.corruptRate = rate;
    this.corruptDirection = direction;
  }

  /**
   * Traffic flows again, without delay, trickle or corruption. Connections swallowed by a black hole stay
   * dead, as after a NAT reset; stalled ones move again, in order.
   */
  restore(): void {
    if (this.current === 'blackhole') this.cutQuietly();
    const wasStalled = this.current === 'stall';
    this.current = 'pass';
    this.delayMs = 0;
    this.trickleBytesPerSecond = 0;
    this.corruptRate = 0;
    if (wasStalled) this.resumeAll();
  }

  async close(): Promise<void> {
    this.cut();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Forgets black-holed connections without telling either side (they stay half-open until they time out). */
  private cutQuietly(): void {
    for (const pair of this.pairs) {
      this.stopFlows(pair);
      for (const socket of [pair.client, pair.upstream]) {
        socket.removeAllListeners('data');
        socket.on('data', () => {});
        socket.resume();
      }
    }
    this.pairs.clear();
  }

  private resumeAll(): void {
    for (const pair of this.pairs)
      for (const flow of pair.flows) {
        if (flow.queuedBytes < HIGH_WATER_BYTES) flow.from.resume();
        this.release(flow);
      }
  }

  private stopFlows(pair: Pair): void {
    for (const flow of pair.flows) {
      if (flow.timer) clearTimeout(flow.timer);
      flow.timer = undefined;
      flow.queue.length = 0;
      flow.queuedBytes = 0;
    }
  }

  /** A black hole swallows what was waiting too, and keeps reading so the senders never feel it. */
  private swallow(flow: Flow): void {
    if (flow.timer) clearTimeout(flow.timer);
    flow.timer = undefined;
    this.counters.blackholedBytes += flow.queuedBytes;
    flow.queue.length = 0;
    flow.queuedBytes = 0;
    flow.from.resume();
  }

  private accept(client: net.Socket): void {
    client.on('error', () => {});
    this.track(client);
    this.counters.accepted++;
    if (this.current === 'refuse') {
      client.resetAndDestroy();
      this.counters.reset++;
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    upstream.on('error', () => {});
    this.track(upstream);
    const pair: Pair = { client, upstream, flows: [] };
    pair.flows.push(new Flow(client, upstream, 'upstream'), new Flow(upstream, client, 'downstream'));
    this.pairs.add(pair);
    for (const flow of pair.flows) {
      if (this.current === 'stall') flow.from.pause();
      flow.from.on('data', (data: Buffer) => this.receive(pair, flow, data));
    }
    const end = () => {
      if (!this.pairs.delete(pair)) return;
      this.stopFlows(pair);
      // A black hole carries no close either: the other side stays half-open until it notices by itself
      // (its socket is closed with the proxy, if not before).
      if (this.current === 'blackhole') return;
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private receive(pair: Pair, flow: Flow, data: Buffer): void {
    if (!this.pairs.has(pair)) return;
    if (this.current === 'blackhole' || this.current === 'refuse') {
      this.counters.blackholedBytes += data.length;
      return;
    }
    const chunk = this.maybeCorrupt(flow, data);
    const passThrough =
      this.current === 'pass' &&
      this.delayMs <= 0 &&
      this.trickleBytesPerSecond <= 0 &&
      flow.queue.length === 0;
    if (passThrough) {
      flow.to.write(chunk);
      return;
    }
    flow.queue.push({ due: Date.now() + this.delayMs, data: chunk });
    flow.queuedBytes += chunk.length;
    if (flow.queuedBytes >= HIGH_WATER_BYTES) flow.from.pause();
    if (!flow.timer) this.release(flow);
  }

  /** Writes what is due, as the trickle budget allows, and comes back when more is due. */
  private release(flow: Flow): void {
    flow.timer = undefined;
    if (this.current !== 'pass') return;
    const now = Date.now();
    const rate = this.trickleBytesPerSecond;
    if (rate > 0) {
      const elapsed = Math.max(0, now - (flow.budgetAt || now));
      flow.budget = Math.min(rate, flow.budget + (elapsed * rate) / 1000);
      flow.budgetAt = now;
    }
    while (flow.queue.length > 0 && flow.queue[0]!.due <= now) {
      const head = flow.queue[0]!;
      if (rate > 0) {
        const allowed = Math.floor(flow.budget);
        if (allowed <= 0) break;
        if (head.data.length > allowed) {
          flow.to.write(head.data.subarray(0, allowed));
          head.data = head.data.subarray(allowed);
          flow.queuedBytes -= allowed;
          flow.budget -= allowed;
          break;
        }
        flow.budget -= head.data.length;
      }
      flow.queue.shift();
      flow.queuedBytes -= head.data.length;
      flow.to.write(head.data);
    }
    if (flow.queuedBytes < HIGH_WATER_BYTES / 2 && flow.from.isPaused()) flow.from.resume();
    if (flow.queue.length === 0) return;
    const wait = Math.max(flow.queue[0]!.due - now, rate > 0 ? TRICKLE_TICK_MS : 0);
    flow.timer = setTimeout(() => this.release(flow), Math.max(1, wait));
  }

  private maybeCorrupt(flow: Flow, data: Buffer): Buffer {
    const rate = this.corruptRate;
    if (rate <= 0 || (this.corruptDirection !== 'both' && this.corruptDirection !== flow.direction))
      return data;
    let copy: Buffer | undefined;
    // Geometric skips: as many random draws as corrupted bytes, whatever the chunk's length.
    let i = rate >= 1 ? 0 : Math.floor(Math.log(1 - this.random()) / Math.log(1 - rate));
    while (i < data.length) {
      copy ??= Buffer.from(data);
      copy[i] = (copy[i]! + 1 + Math.floor(this.random() * 255)) & 0xff;
      this.counters.corruptedBytes++;
      i += 1 + (rate >= 1 ? 0 : Math.floor(Math.log(1 - this.random()) / Math.log(1 - rate)));
    }
    return copy ?? data;
  }
}
