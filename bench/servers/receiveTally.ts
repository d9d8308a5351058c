import type { CpuWindow, LatencyWindow } from '../support.ts';

/**
 * What an alternative's server child keeps (samples received per engine, engines connected) and how it
 * answers the bench's requests (`count`, `engines`, and the measuring window), the same for every one.
 */
export class ReceiveTally {
  connected = 0;
  private readonly counts = new Map<string, { received: number; seqs: Set<number> }>();

  constructor(
    private readonly latency: LatencyWindow,
    private readonly cpu: CpuWindow,
  ) {}

  /** The running count of one engine's samples (created on first use). */
  of(id: string): { received: number; seqs: Set<number> } {
    let c = this.counts.get(id);
    if (!c) {
      c = { received: 0, seqs: new Set() };
      this.counts.set(id, c);
    }
    return c;
  }

  readonly answer = async (request: Record<string, unknown>): Promise<unknown> => {
    switch (request.op) {
      case 'count': {
        const c = this.counts.get(String(request.id));
        return { received: c?.received ?? 0, distinct: c?.seqs.size ?? 0 };
      }
      case 'engines':
        return { up: this.connected };
      case 'window-start':
        await this.cpu.restart();
        this.latency.start();
        return {};
      case 'window-stop': {
        const latency = this.latency.stop();
        return { ...(await this.cpu.read({ records: latency.records })), ...latency };
      }
      default:
        throw new Error(`unknown request ${JSON.stringify(request)}`);
    }
  };
}
