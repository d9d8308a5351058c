import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { expect } from 'vitest';
import { restartablePort } from '../../../src/faults/restartablePort.ts';
import { waitFor } from '../../../src/faults/waitFor.ts';
import { AggregatorSlot } from '../../../src/soak/aggregatorSlot.ts';
import { checkEngine, type EngineView } from '../../../src/soak/engineCheck.ts';
import { EngineSlot } from '../../../src/soak/engineSlot.ts';
import type { RunView } from '../../../src/soak/expectedRuns.ts';
import { seededRandom } from '../../support/seededRandom.ts';

/** Short leases, so that the tests are lean: a dead node's engines move after about 3 s. */
export const TEST_LEASE = ['--lease', '3000', '--lease-renew', '1000', '--busy-retry-after', '300'];

/** An engine as the fleet's API shows it (with its node). */
export type FleetEngineView = EngineView & { node?: string | null };

/**
 * The programs of a fleet test, each an OS process started through the CLI: aggregator nodes on one
 * PostgreSQL database (each `--node-id`, short leases; `dbFor` may give a node its own way to the
 * database, a fault proxy say) and simulated engines given every node's URL. `finish()` stops everything
 * and checks the store against what the engines printed; the database answers who owns what.
 */
export class FleetWorld {
  readonly dir = mkdtempSync(join(tmpdir(), 'engine-link-fleet-'));
  readonly nodes = new Map<string, AggregatorSlot>();
  readonly engines: EngineSlot[] = [];
  private readonly random = seededRandom(17);
  readonly admin: postgres.Sql;

  constructor(
    readonly db: string,
    names: readonly string[],
    dbFor: (name: string) => string = () => db,
  ) {
    this.admin = postgres(db, { max: 1, onnotice: () => {} });
    for (const name of names) {
      const logDir = join(this.dir, name);
      mkdirSync(logDir, { recursive: true });
      this.nodes.set(name, new AggregatorSlot(dbFor(name), logDir, ['--node-id', name, ...TEST_LEASE]));
    }
  }

  node(name: string): AggregatorSlot {
    return this.nodes.get(name)!;
  }

  /** Starts these nodes (default: all); every node's port is chosen first, so engines know them all. */
  async startNodes(names: readonly string[] = [...this.nodes.keys()]): Promise<void> {
    for (const node of this.nodes.values()) if (node.port === 0) node.port = await restartablePort();
    await Promise.all(names.map((name) => this.node(name).start()));
  }

  /** A simulated engine given every node's URL (in a shuffled order it tries them), started. */
  async engine(id: string, rate = 40): Promise<EngineSlot> {
    const slot = new EngineSlot(
      {
        id,
        logDir: this.dir,
        rate,
        runSeconds: 1,
        failEvery: 3,
        random: this.random,
        progressMs: 0,
        aggregators: [...this.nodes.values()].map((node) => `ws://127.0.0.1:${node.port}`),
      },
      0,
    );
    this.engines.push(slot);
    await slot.start();
    return slot;
  }

  /** Which node holds each engine now (live leases), from the database. */
  async owners(): Promise<Map<string, string>> {
    const rows = await this.admin<{ engine_id: string; node: string }[]>`
      SELECT engine_id, node FROM leases WHERE expires_at > clock_timestamp()`;
    return new Map(rows.map((row) => [row.engine_id, row.node]));
  }

  /** Each engine's high-water mark in its current epoch, from the database. */
  async marks(): Promise<Map<string, number>> {
    const rows = await this.admin<{ engine_id: string; high_water: number }[]>`
      SELECT s.engine_id, s.high_water::int8 AS high_water FROM streams s
      JOIN engines e ON e.id = s.engine_id AND e.current_epoch = s.epoch`;
    return new Map(rows.map((row) => [row.engine_id, Number(row.high_water)]));
  }

  async api<T>(node: string, path: string): Promise<T> {
    const response = await fetch(`${this.node(node).url}${path}`);
    if (!response.ok) throw new Error(`${node} ${path}: HTTP ${response.status}`);
    return (await response.json()) as T;
  }

  /** Reads `node`'s live-update stream (/api/events) in the background: what came so far, and a stop. */
  async watchEvents(node: string): Promise<{ text(): string; close(): void }> {
    const controller = new AbortController();
    const response = await fetch(`${this.node(node).url}/api/events`, { signal: controller.signal });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    void (async () => {
      for (;;) {
        const chunk = await reader.read().catch(() => ({ done: true, value: undefined }));
        if (chunk.done) return;
        text += chunk.value;
      }
    })();
    return { text: () => text, close: () => controller.abort() };
  }

  /** Sends a command through `node`: its HTTP status and body. */
  async command(node: string, engineId: string, name = 'ping'): Promise<{ status: number; body: unknown }> {
    const response = await fetch(`${this.node(node).url}/api/engines/${engineId}/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    return { status: response.status, body: await response.json() };
  }

  /** Every engine process that was started is still running: one that ended by itself fails the test. */
  expectAlive(): void {
    for (const slot of this.engines)
      if (slot.unexpectedExit)
        throw new Error(`engine ${slot.id} exited by itself: ${slot.unexpectedExit.log.slice(-4000)}`);
  }

  /**
   * Stops the engines (SIGTERM: each drains), reads their views and runs from `apiNode` (any node answers
   * for the fleet), stops the nodes still running, then checks each engine against the store: produced =
   * persisted, nothing twice, nothing out of order, every run as the engine ran it.
   */
  async finish(apiNode: string): Promise<void> {
    this.expectAlive();
    await Promise.all(this.engines.map((slot) => slot.stop()));
    const views = await waitFor(
      `${apiNode} shows every engine offline`,
      async () => {
        const all = await this.api<FleetEngineView[]>(apiNode, '/api/engines');
        return this.engines.every((slot) => all.find((v) => v.id === slot.id)?.link === 'offline')
          ? all
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const runs = await waitFor(
      'no run of an offline engine is active',
      async () => {
        const all = new Map<string, RunView[]>();
        for (const slot of this.engines)
          all.set(slot.id, await this.api<RunView[]>(apiNode, `/api/runs?engine=${slot.id}`));
        return [...all.values()].every((list) => list.every((run) => run.state !== 'active'))
          ? all
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    for (const node of this.nodes.values())
      if (node.running) expect(await node.stop(), 'a node exits 0 on SIGTERM').toBe(0);
    for (const slot of this.engines) {
      const row = await checkEngine(
        slot,
        views.find((v) => v.id === slot.id),
        runs.get(slot.id) ?? [],
        this.db,
      );
      expect(row.differences, `${slot.id} (logs in ${this.dir})`).toEqual([]);
      expect(row.produced, slot.id).toBeGreaterThan(0);
    }
  }

  async cleanup(): Promise<void> {
    for (const slot of this.engines) {
      await slot.kill();
      await slot.proxy.close();
    }
    for (const node of this.nodes.values()) {
      node.current?.child.kill('SIGCONT');
      await node.kill();
    }
    await this.admin.end();
  }
}
