import net from 'node:net';

export type FaultMode = 'pass' | 'blackhole' | 'refuse';

/**
 * A TCP proxy on loopback that breaks links on demand, for demos and fault tests without root:
 * `cut()` resets every connection, `blackhole()` keeps them open but lets nothing through (a half-open
 * link: no FIN, no RST), `refuse()` turns new connections away, `restore()` lets traffic flow again.
 */
export class FaultProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  private current: FaultMode = 'pass';
  /** Extra latency added to every chunk, each direction (order is kept). */
  delayMs = 0;

  constructor(
    private readonly target: { host: string; port: number },
    private readonly listen: { host?: string; port?: number } = {},
  ) {}

  get mode(): FaultMode {
    return this.current;
  }

  get connections(): number {
    return this.pairs.size;
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

  /** Resets every open connection; new ones still pass. */
  cut(): void {
    for (const { client, upstream } of this.pairs) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    this.pairs.clear();
  }

  /** Open connections stay open but carry nothing; new connections hang. */
  blackhole(): void {
    this.current = 'blackhole';
  }

  /** New connections are closed at once; open ones are reset. */
  refuse(): void {
    this.current = 'refuse';
    this.cut();
  }

  /** Traffic flows again, without delay. Connections swallowed by a black hole stay dead, as after a NAT reset. */
  restore(): void {
    if (this.current === 'blackhole') this.cutQuietly();
    this.current = 'pass';
    this.delayMs = 0;
  }

  async close(): Promise<void> {
    this.cut();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Forgets black-holed connections without telling either side (they stay half-open until they time out). */
  private cutQuietly(): void {
    for (const pair of this.pairs) {
      pair.client.removeAllListeners('data');
      pair.upstream.removeAllListeners('data');
      pair.client.on('data', () => {});
      pair.upstream.on('data', () => {});
    }
    this.pairs.clear();
  }

  private accept(client: net.Socket): void {
    client.on('error', () => {});
    if (this.current === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    upstream.on('error', () => {});
    const pair = { client, upstream };
    this.pairs.add(pair);
    const forward = (from: net.Socket, to: net.Socket) => {
      // Chunks wait in a queue so a delay never reorders them.
      const queue: Array<{ due: number; data: Buffer }> = [];
      const release = () => {
        const now = Date.now();
        while (queue.length > 0 && queue[0]!.due <= now) {
          const { data } = queue.shift()!;
          if (this.pairs.has(pair)) to.write(data);
        }
        if (queue.length > 0) setTimeout(release, queue[0]!.due - now);
      };
      from.on('data', (data) => {
        if (this.current !== 'pass' || !this.pairs.has(pair)) return;
        if (this.delayMs <= 0 && queue.length === 0) {
          to.write(data);
          return;
        }
        queue.push({ due: Date.now() + this.delayMs, data });
        if (queue.length === 1) setTimeout(release, this.delayMs);
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      if (!this.pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  }
}
