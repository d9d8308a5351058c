import { FaultProxy } from '../transport/faultProxy.ts';

/**
 * One engine's links to the nodes of a fleet: a fault proxy on loopback per node, faulted together (a
 * link fault of the soak hits the engine's way to every node, as a fault of its network would).
 */
export class ProxyGroup {
  readonly proxies: FaultProxy[];
  private ports: number[] = [];

  constructor(targets: readonly number[], random: () => number) {
    this.proxies = targets.map((port) => new FaultProxy({ host: '127.0.0.1', port }, { random }));
  }

  async start(): Promise<void> {
    this.ports = [];
    for (const proxy of this.proxies) this.ports.push((await proxy.start()).port);
  }

  /** The engine's `--aggregator` list: one URL per node, through its proxy. */
  urls(): string[] {
    return this.ports.map((port) => `ws://127.0.0.1:${port}`);
  }

  set delayMs(ms: number) {
    for (const proxy of this.proxies) proxy.delayMs = ms;
  }

  cut(): void {
    for (const proxy of this.proxies) proxy.cut();
  }

  closeConnections(): void {
    for (const proxy of this.proxies) proxy.closeConnections();
  }

  blackhole(): void {
    for (const proxy of this.proxies) proxy.blackhole();
  }

  stall(): void {
    for (const proxy of this.proxies) proxy.stall();
  }

  refuse(): void {
    for (const proxy of this.proxies) proxy.refuse();
  }

  trickle(bytesPerSecond: number): void {
    for (const proxy of this.proxies) proxy.trickle(bytesPerSecond);
  }

  restore(): void {
    for (const proxy of this.proxies) proxy.restore();
  }

  async close(): Promise<void> {
    for (const proxy of this.proxies) await proxy.close();
  }
}
