import { afterAll, describe, expect, it } from 'vitest';
import { REASON_NOT_RUNNING } from '../../machines/runReconciliation.ts';
import type { Item } from '../../src/protocol/records.ts';
import { compareRuns, expectedRuns, type Lifetime } from '../../src/soak/expectedRuns.ts';
import { planFaults } from '../../src/soak/faultPlan.ts';
import { SeededRandom } from '../../src/soak/seededRandom.ts';
import { auditStore } from '../../src/soak/storeAudit.ts';
import { STORE_BACKENDS, type StoreBackend } from '../aggregator/store/backends.ts';

/**
 * The soak's judges must catch what they are there to catch: a store with a duplicate, a hole, a record
 * out of order or one too many, and runs that differ from what the engine did.
 */
const sample = (tag: string, t: number): Item => ['s', tag, t, 1];
const event = (name: string, t: number, runId: string): Item => ['e', name, t, { runId }];

describe.each(STORE_BACKENDS)('storeAudit on %s', (_name, makeBackend) => {
  const backends: StoreBackend[] = [];
  afterAll(() => {
    for (const backend of backends) backend.cleanup();
  });

  /** A store holding `items` then `gaps` for engine e1, epoch E: where it is (for auditStore). */
  async function storeWith(items: Item[], gaps: Item[] = []): Promise<string> {
    const backend = makeBackend();
    backends.push(backend);
    const store = await backend.open();
    await store.touchEngine('e1', 'E', 0);
    await store.ingest('e1', 'E', 1, [...items, ...gaps]);
    await store.close();
    return backend.location();
  }

  it('passes a store holding every record once, in order', async () => {
    const path = await storeWith([
      sample('a', 1),
      event('run.started', 2, 'r1'),
      sample('b', 2),
      sample('a', 3),
    ]);
    expect(await auditStore(path, 'e1', 'E', 4)).toMatchObject({
      persisted: 4,
      missing: 0,
      extra: 0,
      duplicates: 0,
      outOfOrder: 0,
      gapRecords: 0,
      runEvents: [{ seq: 2, name: 'run.started', runId: 'r1', t: 2 }],
    });
  });

  it('counts missing, extra, duplicated and out-of-order records, and gap records', async () => {
    const path = await storeWith([sample('a', 1), sample('a', 1), sample('b', 5), sample('b', 4)]);
    expect(await auditStore(path, 'e1', 'E', 6)).toMatchObject({
      persisted: 4,
      missing: 2,
      duplicates: 1,
      outOfOrder: 2,
    });
    expect(await auditStore(path, 'e1', 'E', 3)).toMatchObject({ extra: 1 });
    const withGap = await storeWith([sample('a', 1)], [['g', 2, 4, 3, 'overflow']]);
    expect(await auditStore(withGap, 'e1', 'E', 4)).toMatchObject({ missing: 0, gapRecords: 1, gapCount: 3 });
    expect(await auditStore(withGap, 'e1', 'OTHER', 4)).toMatchObject({ missing: 4, persisted: 0 });
  });
});

describe('expectedRuns', () => {
  const stored = [
    { seq: 2, name: 'run.started', runId: 'r1', t: 10, reason: undefined },
    { seq: 5, name: 'run.completed', runId: 'r1', t: 20, reason: undefined },
    { seq: 7, name: 'run.started', runId: 'r2', t: 30, reason: undefined },
    { seq: 12, name: 'run.started', runId: 'r3', t: 40, reason: undefined },
    { seq: 14, name: 'run.failed', runId: 'r3', t: 50, reason: 'simulated failure' },
    { seq: 16, name: 'run.started', runId: 'r4', t: 60, reason: undefined },
  ];
  const lifetimes: Lifetime[] = [
    {
      epoch: 'E',
      startSeq: 0,
      end: 'killed',
      runs: [
        { event: 'started', runId: 'r1', t: 10, seq: 2 },
        { event: 'completed', runId: 'r1', t: 20, seq: 5 },
        // r2's start (seq 7) was handed over, then the process was killed before it printed it.
      ],
    },
    {
      epoch: 'E',
      startSeq: 10,
      end: 'stopped',
      runs: [
        { event: 'started', runId: 'r3', t: 40, seq: 12 },
        { event: 'failed', runId: 'r3', t: 50, seq: 14 },
        { event: 'started', runId: 'r4', t: 60, seq: 16 },
      ],
    },
  ];

  it('derives each run: ended, interrupted by a kill, unconfirmed at the final stop', () => {
    const { runs, problems } = expectedRuns(lifetimes, 20, stored);
    expect(problems).toEqual([]);
    expect(runs).toEqual([
      { runId: 'r1', state: 'completed', startedAt: 10, endedAt: 20, reason: null },
      { runId: 'r2', state: 'interrupted', startedAt: 30, endedAt: null, reason: REASON_NOT_RUNNING },
      { runId: 'r3', state: 'failed', startedAt: 40, endedAt: 50, reason: 'simulated failure' },
      { runId: 'r4', state: 'unconfirmed', startedAt: 60, endedAt: null, reason: null },
    ]);
    const actual = runs.map((r) => ({ id: r.runId, ...r }));
    expect(compareRuns(runs, actual)).toEqual([]);
    actual[1]!.state = 'unconfirmed';
    actual.pop();
    expect(compareRuns(runs, [...actual, { ...actual[0]!, id: 'r9' }])).toEqual([
      'run r2: state unconfirmed (expected interrupted)',
      'run r4: expected unconfirmed, not in the aggregator',
      'run r9: completed in the aggregator, not expected',
    ]);
  });

  it('flags printed events missing from the store, and unprinted ones a kill cannot explain', () => {
    const withoutR3End = stored.filter((e) => e.seq !== 14);
    expect(expectedRuns(lifetimes, 20, withoutR3End).problems).toContain(
      'run r3: failed printed at seq 14 is not in the store',
    );
    const stopped = lifetimes.map((life) => ({ ...life, end: 'stopped' as const }));
    expect(expectedRuns(stopped, 20, stored).problems).toEqual([
      'run events stored that the engine never printed: run.started r2 @7',
    ]);
  });
});

describe('planFaults', () => {
  it('repeats for a seed, and keeps lasting faults of one link and kills of one process apart', () => {
    const options = { durationMs: 120_000, engines: 3, meanGapMs: 1500 };
    const plan = planFaults(new SeededRandom(3), options);
    expect(planFaults(new SeededRandom(3), options)).toEqual(plan);
    expect(plan.length).toBeGreaterThanOrEqual(50);
    for (const fault of plan) expect(fault.at + fault.durationMs).toBeLessThanOrEqual(options.durationMs);
    for (let engine = 0; engine < 3; engine++) {
      const lasting = plan.filter(
        (f) => f.engine === engine && f.durationMs > 0 && !f.kind.startsWith('kill'),
      );
      for (let i = 1; i < lasting.length; i++)
        expect(lasting[i]!.at).toBeGreaterThanOrEqual(lasting[i - 1]!.at + lasting[i - 1]!.durationMs);
    }
  });

  it('kills PostgreSQL only when asked to, one kill at a time, and leaves the other plans as they were', () => {
    const options = { durationMs: 300_000, engines: 3, meanGapMs: 1500 };
    const plain = planFaults(new SeededRandom(7), options);
    expect(plain.some((f) => f.kind === 'kill-postgres')).toBe(false);
    const withPostgres = planFaults(new SeededRandom(7), { ...options, postgres: true });
    const kills = withPostgres.filter((f) => f.kind === 'kill-postgres');
    expect(kills.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < kills.length; i++)
      expect(kills[i]!.at).toBeGreaterThanOrEqual(kills[i - 1]!.at + kills[i - 1]!.durationMs + 3000);
    for (const kill of kills) expect(kill.durationMs).toBeLessThanOrEqual(4000);
  });
});
