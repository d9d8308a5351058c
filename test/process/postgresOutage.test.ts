import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresCluster } from '../../src/faults/postgresCluster.ts';
import { waitFor } from '../../src/faults/waitFor.ts';
import { ProcessWorld } from './support/world.ts';

/**
 * The aggregator on PostgreSQL (`--db postgres://…`), every program an OS process started through the
 * CLI: a throwaway PostgreSQL server of the test's own is SIGKILLed mid-run and started again. While it is
 * away /healthz answers 503, nothing is acknowledged and the engines keep their links (their records
 * wait in their outboxes); once it is back what waited is committed, and the store is checked against
 * what the engines say they produced: nothing lost, nothing twice, nothing out of order.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function health(url: string): Promise<{ status: number; body: { store?: string; reason?: string } }> {
  const response = await fetch(`${url}/healthz`);
  return { status: response.status, body: (await response.json()) as { store?: string; reason?: string } };
}

describe('the aggregator on PostgreSQL', () => {
  it('PostgreSQL SIGKILLed and restarted mid-run: engines keep their links, nothing is lost or doubled', async () => {
    const cluster = await PostgresCluster.create();
    cleanups.push(() => cluster.destroy());
    const admin = postgres(cluster.url(), { max: 1, onnotice: () => {} });
    await admin.unsafe('CREATE DATABASE engine_link_process');
    await admin.end();

    const w = new ProcessWorld([], cluster.url('engine_link_process'));
    cleanups.push(() => w.cleanup());
    await w.aggregator.start();
    const engines = [
      await w.engine('pg-memory', { direct: true }),
      await w.engine('pg-durable', { direct: true, durable: true }),
    ];
    for (const slot of engines) await slot.start();
    for (const slot of engines) await w.until('delivering', slot.id, (v) => v.persistedSeq > 300);
    expect(await health(w.aggregator.url)).toEqual({ status: 200, body: { ok: true, store: 'available' } });

    await cluster.kill();
    const lost = await waitFor(
      'healthz says the store is unavailable',
      async () => {
        const answer = await health(w.aggregator.url);
        return answer.status === 503 ? answer : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    expect(lost.body.store).toBe('unavailable');
    // Nothing is acknowledged while PostgreSQL is away, and no engine loses its link over it.
    const marks = new Map<string, number>();
    for (const slot of engines) marks.set(slot.id, (await w.until('seen', slot.id, () => true)).persistedSeq);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // the outage lasts a while (a fault, not a wait)
    for (const slot of engines) {
      const view = await w.until('seen', slot.id, () => true);
      expect(view.link, slot.id).toBe('available');
      expect(view.persistedSeq, slot.id).toBe(marks.get(slot.id));
    }

    await cluster.start();
    await waitFor(
      'healthz says the store is back',
      async () => ((await health(w.aggregator.url)).status === 200 ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    for (const slot of engines)
      await w.until('delivering again', slot.id, (v) => v.persistedSeq > marks.get(slot.id)! + 400);
    await w.finish();
    const log = readFileSync(join(w.logDir, 'aggregator.log'), 'utf8');
    expect(log).toMatch(/the store is unavailable/);
    expect(log).toMatch(/the store is back/);
  }, 120_000);
});
