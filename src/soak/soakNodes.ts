import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { restartablePort } from '../faults/restartablePort.ts';
import { AggregatorSlot } from './aggregatorSlot.ts';

/** A fleet node's leases in the soak: short, so that a killed node's engines move within seconds. */
const SOAK_FLEET_ARGS = ['--lease', '3000', '--lease-renew', '1000', '--busy-retry-after', '300'];

/**
 * The soak's aggregators: one, or (`count` > 1, PostgreSQL only) the nodes of a fleet on one database,
 * each `--node-id node-N` with its own log, every port chosen before the first start (the engines are
 * given every node's URL), each killed and restarted on its own as a fault.
 */
export class SoakNodes {
  readonly slots: AggregatorSlot[];

  constructor(db: string, logDir: string, count: number) {
    this.slots = Array.from({ length: count }, (_, i) => {
      if (count === 1) return new AggregatorSlot(db, logDir);
      const dir = join(logDir, `node-${i + 1}`);
      mkdirSync(dir, { recursive: true });
      return new AggregatorSlot(db, dir, ['--node-id', `node-${i + 1}`, ...SOAK_FLEET_ARGS]);
    });
  }

  get fleet(): boolean {
    return this.slots.length > 1;
  }

  get restarts(): number {
    return this.slots.reduce((sum, slot) => sum + slot.restarts, 0);
  }

  /** Chooses every node's port, then starts them all. */
  async start(): Promise<void> {
    for (const slot of this.slots) if (slot.port === 0) slot.port = await restartablePort();
    await Promise.all(this.slots.map((slot) => slot.start()));
  }

  /** Starts the nodes that are down (after the faults). */
  async startStopped(): Promise<void> {
    for (const slot of this.slots) if (!slot.running) await slot.start(20);
  }

  /** The URL of a node that runs (any node answers for the fleet). */
  url(): string {
    return (this.slots.find((slot) => slot.running) ?? this.slots[0]!).url;
  }

  /**
   * Every engine as the nodes that run show it, the freshest view of each (its owner's: the others' are
   * read from the database once a second).
   */
  async views<T extends { id: string; persistedSeq: number }>(): Promise<T[]> {
    const best = new Map<string, T>();
    for (const slot of this.slots) {
      if (!slot.running) continue;
      const response = await fetch(`${slot.url}/api/engines`);
      if (!response.ok) throw new Error(`${slot.url}/api/engines: HTTP ${response.status}`);
      for (const view of (await response.json()) as T[]) {
        const known = best.get(view.id);
        if (!known || view.persistedSeq > known.persistedSeq) best.set(view.id, view);
      }
    }
    return [...best.values()];
  }

  /** SIGKILL node `index`, down for `durationMs`, then started again; false when it was down already. */
  async kill(index: number, durationMs: number): Promise<boolean> {
    const slot = this.slots[index]!;
    if (!(await slot.kill())) return false;
    await sleep(durationMs);
    await slot.start(20);
    return true;
  }

  /** SIGTERM every node: the first exit code that is not 0, or 0. */
  async stop(): Promise<number | null> {
    let code: number | null = 0;
    for (const slot of this.slots) {
      const exit = await slot.stop();
      if (code === 0) code = exit;
    }
    return code;
  }

  async killAll(): Promise<void> {
    for (const slot of this.slots) await slot.kill();
  }
}
