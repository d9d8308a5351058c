import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/faults/waitFor.ts';
import { FaultProxy } from '../../src/transport/faultProxy.ts';
import { freshDatabase } from '../support/postgres.ts';
import { FleetWorld } from './support/fleetWorld.ts';

/**
 * A fleet node that is paused, or cut off from PostgreSQL, loses its engines to the other node, and
 * nothing it stores or acknowledges after its leases expired is kept: every program an OS process
 * started through the CLI, two nodes with leases of 3 s, four engines given both URLs; at the end the
 * store is checked against what the engines say they produced (once each, in order).
 */
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * Starts node-a alone, then four engines (all on node-a, the only node up), then node-b; waits until every
 * engine is held and delivering.
 */
async function fourEnginesOnNodeA(w: FleetWorld, prefix: string): Promise<Map<string, string>> {
  await w.startNodes(['node-a']);
  for (let i = 1; i <= 4; i++) await w.engine(`${prefix}-${i}`);
  await w.startNodes(['node-b']);
  const ids = w.engines.map((slot) => slot.id);
  return waitFor(
    'every engine held and delivering',
    async () => {
      w.expectAlive();
      const [held, marks] = [await w.owners(), await w.marks()];
      return ids.every((id) => held.has(id) && (marks.get(id) ?? 0) > 40) ? held : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

/** Resolves once every engine in `ids` is held by `node` and has delivered 20 more records there. */
async function movedTo(
  w: FleetWorld,
  node: string,
  ids: readonly string[],
  timeoutMs: number,
): Promise<void> {
  const before = await w.marks();
  await waitFor(
    `${ids.join(', ')} held by ${node} and delivering`,
    async () => {
      w.expectAlive();
      const [held, marks] = [await w.owners(), await w.marks()];
      return ids.every((id) => held.get(id) === node && marks.get(id)! > before.get(id)! + 20);
    },
    { timeoutMs, intervalMs: 200 },
  );
}

describe('a fleet node paused or cut off from PostgreSQL', () => {
  it('SIGSTOP a node for 30 s: its engines move; after SIGCONT nothing it stores or acknowledges is kept', async () => {
    const w = new FleetWorld(await freshDatabase('fleet_stop'), ['node-a', 'node-b']);
    cleanups.push(() => w.cleanup());
    const owners = await fourEnginesOnNodeA(w, 'stop');
    const [paused, other] = ['node-a', 'node-b'];
    const moved = [...owners.keys()];
    expect([...owners.values()]).toEqual(['node-a', 'node-a', 'node-a', 'node-a']);

    const process = w.node(paused).current!.child;
    process.kill('SIGSTOP');
    const stoppedAt = Date.now();
    await movedTo(w, other, moved, 25_000);
    // Paused for 30 s in all (a fault that lasts, not a wait for a condition).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 30_000 - (Date.now() - stoppedAt))));
    process.kill('SIGCONT');

    // Back, the paused node finds its leases gone and lets its engines go; they stay where they are.
    const log = join(w.dir, paused, 'aggregator.log');
    await waitFor(
      `${paused} lets its engines go`,
      () => /engine let go|no longer holds the lease/.test(readFileSync(log, 'utf8')),
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    await movedTo(w, other, moved, 20_000);
    await w.finish(other);
  }, 180_000);

  it('a node cut off from PostgreSQL (a fault proxy between node and database): its engines move away', async () => {
    const db = await freshDatabase('fleet_cut');
    const url = new URL(db);
    const proxy = new FaultProxy({ host: url.hostname, port: Number(url.port) });
    cleanups.push(() => proxy.close());
    const through = await proxy.start();
    const cutDb = new URL(db);
    cutDb.port = String(through.port);
    // node-a goes through the proxy: it holds the four engines when it is cut off.
    const w = new FleetWorld(db, ['node-a', 'node-b'], (name) => (name === 'node-a' ? cutDb.toString() : db));
    cleanups.push(() => w.cleanup());
    const owners = await fourEnginesOnNodeA(w, 'cut');
    expect([...owners.values()]).toEqual(['node-a', 'node-a', 'node-a', 'node-a']);

    // Packets between node-a and PostgreSQL vanish: its renewals hang, its leases run out.
    proxy.blackhole();
    await movedTo(w, 'node-b', [...owners.keys()], 30_000);
    const log = readFileSync(join(w.dir, 'node-a', 'aggregator.log'), 'utf8');
    expect(log).toMatch(/leases could not be renewed in time/);
    // node-a is taken out (its connections to the database are dead); node-b answers for the fleet.
    await w.node('node-a').kill();
    proxy.restore();
    await w.finish('node-b');
  }, 180_000);
});
