import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/faults/waitFor.ts';
import { AggregatorSlot } from '../../src/soak/aggregatorSlot.ts';
import { checkEngine, type EngineView } from '../../src/soak/engineCheck.ts';
import { EngineSlot } from '../../src/soak/engineSlot.ts';
import type { RunView } from '../../src/soak/expectedRuns.ts';
import { freshDatabase } from '../support/postgres.ts';
import { seededRandom } from '../support/seededRandom.ts';
import { TEST_LEASE } from './support/fleetWorld.ts';
import { freePort } from './support/world.ts';

/**
 * Engines with several aggregators (`engine --aggregator ws://a,ws://b`): two aggregator processes on one
 * PostgreSQL database, every program an OS process started through the CLI, over real sockets. One engine
 * is started before either node, with a URL nobody ever listens on among its three: it goes round them
 * and connects once a node is up. Another is homed on one node when that node is SIGKILLed: it re-homes
 * to the other within 10 s. At the end the store holds every record each engine says it produced, exactly
 * once and in order.
 */
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The aggregators an engine's log says its link came up on, in order. */
function homes(slot: EngineSlot): string[] {
  const out: string[] = [];
  for (const line of (slot.current?.stderr() ?? '').split('\n')) {
    if (!/"msg":"link (connected|flushing)"/.test(line)) continue;
    out.push((JSON.parse(line) as { aggregator: string }).aggregator);
  }
  return out;
}

/** GET from a node (or from the node of a ws:// URL). */
async function api<T>(node: AggregatorSlot | string, path: string): Promise<T> {
  const base = typeof node === 'string' ? node.replace(/^ws/, 'http').replace(/\/$/, '') : node.url;
  const response = await fetch(`${base}${path}`);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

async function persistedOn(node: AggregatorSlot | string, id: string): Promise<number> {
  const view = (await api<EngineView[]>(node, '/api/engines')).find((v) => v.id === id);
  return view?.persistedSeq ?? 0;
}

describe('an engine with several aggregators', () => {
  it('re-homes to the other node within 10 s when its node is SIGKILLed, and connects past a dead URL; every record stored once, in order', async () => {
    const db = await freshDatabase('failover');
    const dir = mkdtempSync(join(tmpdir(), 'engine-link-failover-'));
    const node = (name: string) => {
      const logDir = join(dir, name);
      mkdirSync(logDir);
      // Nodes of a fleet (issue 17): an engine moves once its lease on the dead node runs out; short
      // leases, as in the fleet tests, keep that well within the 10 s.
      const slot = new AggregatorSlot(db, logDir, ['--node-id', name, ...TEST_LEASE]);
      cleanups.push(() => slot.kill());
      return slot;
    };
    const a = node('a');
    const b = node('b');
    const ws = (slot: AggregatorSlot) => `ws://127.0.0.1:${slot.port}/`;
    const dead = `ws://127.0.0.1:${await freePort()}/`;
    const random = seededRandom(17);
    const engine = (id: string, aggregators: string[]) => {
      const slot = new EngineSlot(
        {
          id,
          logDir: dir,
          rate: 200,
          // Samples only: runs that start on one node and end on another are issue 17's item 4.
          runSeconds: 0,
          failEvery: 3,
          random,
          progressMs: 0,
          aggregators,
          logLevel: 'debug',
        },
        0,
      );
      cleanups.push(() => slot.kill());
      return slot;
    };

    // Nothing listens yet: the first engine goes round its three URLs (one never listened on), backing off.
    a.port = await freePort();
    b.port = await freePort();
    const pastDead = engine('fo-past-dead', [dead, ws(a), ws(b)]);
    await pastDead.start();
    const triedOn = (url: string) =>
      new RegExp(`"aggregator":"${url}"[^\\n]*"msg":"link down|"msg":"link down[^\\n]*"aggregator":"${url}"`);
    await waitFor('fo-past-dead has tried every URL', () => {
      const log = pastDead.current?.stderr() ?? '';
      return [dead, ws(a), ws(b)].every((url) => triedOn(url).test(log));
    });
    expect(homes(pastDead)).toEqual([]);
    await a.start();
    await b.start();
    await waitFor('fo-past-dead connects past the dead URL', () => homes(pastDead).length > 0, {
      timeoutMs: 15_000,
    });
    const homed = engine('fo-homed', [ws(a), ws(b)]);
    await homed.start();
    await waitFor('fo-homed is homed', () => homes(homed).length > 0);
    const home = homes(homed)[0] === ws(a) ? a : b;
    const other = home === a ? b : a;
    for (const slot of [homed, pastDead])
      await waitFor(`${slot.id} delivers`, async () => (await persistedOn(homes(slot)[0]!, slot.id)) > 400);

    // The node fo-homed is on dies.
    const killedAt = performance.now();
    await home.kill();
    await waitFor('fo-homed re-homes to the other node', () => homes(homed).at(-1) === ws(other), {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    expect(performance.now() - killedAt).toBeLessThan(10_000);
    for (const slot of [homed, pastDead]) {
      const mark = await persistedOn(other, slot.id);
      await waitFor(
        `${slot.id} delivers on the other node`,
        async () => (await persistedOn(other, slot.id)) > mark + 400,
        {
          timeoutMs: 15_000,
        },
      );
    }
    expect(homes(pastDead).at(-1)).toBe(ws(other));
    const moved = new Set([homed, pastDead].filter((slot) => new Set(homes(slot)).size > 1));

    // Stop the engines (each drains and prints what it produced), then check the store against them.
    await Promise.all([homed.stop(), pastDead.stop()]);
    const ids = ['fo-homed', 'fo-past-dead'];
    const views = await waitFor('both engines show offline on the other node', async () => {
      const all = await api<EngineView[]>(other, '/api/engines');
      return ids.every((id) => all.find((v) => v.id === id)?.link === 'offline') ? all : undefined;
    });
    const runs = new Map<string, RunView[]>();
    for (const id of ids) runs.set(id, await api<RunView[]>(other, `/api/runs?engine=${id}`));
    expect(await other.stop(), 'the other node exits 0 on SIGTERM').toBe(0);
    for (const slot of [homed, pastDead]) {
      const row = await checkEngine(
        slot,
        views.find((v) => v.id === slot.id),
        runs.get(slot.id) ?? [],
        db,
      );
      // A node's persistedCount is its own tally (read from the store when it started, then counted up by
      // its own commits): what the other node stored is not in it, for an engine that moved (a view of the
      // fleet read from the shared store is issue 17's item 3). The store itself is audited record by record.
      const differences = row.differences.filter(
        (d) => !(moved.has(slot) && /^persistedCount \d+ of \d+$/.test(d)),
      );
      expect(differences, `${slot.id} (logs in ${dir})`).toEqual([]);
      expect(row.produced, slot.id).toBeGreaterThan(800);
    }
  }, 120_000);
});
