import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AsyncCommitUnit,
  AsyncGroupCommit,
  type CommittedGroup,
} from '../../../src/aggregator/store/asyncGroupCommit.ts';
import type { AsyncStore } from '../../../src/aggregator/store/asyncStore.ts';
import type { FlushScheduler } from '../../../src/aggregator/store/flushScheduler.ts';
import { SequenceGapError } from '../../../src/aggregator/store/recordStore.ts';
import { ErrorCode, ProtocolError } from '../../../src/protocol/errors.ts';
import type { Item } from '../../../src/protocol/records.ts';
import { until } from '../../support/until.ts';
import { samples } from '../support.ts';
import { STORE_BACKENDS, type StoreBackend } from './backends.ts';

/** A scheduler the test runs by hand: `due` is the flush it was asked for, if any. */
function manualScheduler(): { schedule: FlushScheduler; due: () => (() => void) | undefined } {
  let due: (() => void) | undefined;
  return {
    schedule: (flush) => {
      due = flush;
      return () => {
        due = undefined;
      };
    },
    due: () => due,
  };
}

/** What a unit was told: a protocol error's code, the store's refusal of a sequence gap, or the message. */
function failure(error: unknown): string {
  if (error instanceof ProtocolError) return error.code;
  if (error instanceof SequenceGapError) return 'sequence-gap';
  return (error as Error).message;
}

describe.each(STORE_BACKENDS)('AsyncGroupCommit on %s', (_name, makeBackend) => {
  let backend: StoreBackend;
  let store: AsyncStore;
  let clock: ReturnType<typeof manualScheduler>;
  let group: AsyncGroupCommit;
  let log: string[];

  beforeEach(async () => {
    backend = makeBackend();
    store = await backend.open();
    clock = manualScheduler();
    group = new AsyncGroupCommit(store, { schedule: clock.schedule });
    log = [];
  });
  afterEach(async () => {
    await store.close();
    backend.cleanup();
  });

  /** A unit that ingests a frame and logs what happened to it (and when its transaction committed). */
  function frameUnit(name: string, engineId: string, from: number, items: Item[], isolated = false) {
    return {
      isolated,
      work: async () => {
        log.push(`work ${name}`);
        store.afterCommit(() => log.push(`transaction of ${name} committed`));
        return (await store.ingest(engineId, 'ep', from, items)).persistedSeq;
      },
      committed: (seq: number) => log.push(`committed ${name} ${seq}`),
      failed: (error: unknown) => log.push(`failed ${name} ${failure(error)}`),
    } satisfies AsyncCommitUnit<number>;
  }

  const told = () => log.filter((line) => line.startsWith('committed') || line.startsWith('failed'));

  it('commits the units of one turn together, then tells them in order, after the commit', async () => {
    group.add(frameUnit('a1', 'a', 1, samples(3)));
    group.add(frameUnit('b1', 'b', 1, samples(2)));
    group.add(frameUnit('a2', 'a', 4, samples(2, 3)));
    // Nothing runs before the flush it scheduled.
    expect(log).toEqual([]);
    expect(group.size).toBe(3);
    clock.due()!();
    await group.flush();
    expect(log).toEqual([
      'work a1',
      'work b1',
      'work a2',
      'transaction of a1 committed',
      'transaction of b1 committed',
      'transaction of a2 committed',
      'committed a1 3',
      'committed b1 2',
      'committed a2 5',
    ]);
    expect([group.groups, group.units]).toEqual([1, 3]);
    expect(await store.highWaterMark('a', 'ep')).toBe(5);
    expect(await store.records('b', { epoch: 'ep' })).toHaveLength(2);
  });

  it('makes the units that arrive while a group commits the next group, begun when that commit is done', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    group.add({
      work: async () => {
        await store.ingest('a', 'ep', 1, samples(1));
        await gate; // the commit is in flight until the test opens the gate
        return 1;
      },
      committed: () => log.push('committed a1 1'),
      failed: (error) => log.push(`failed a1 ${failure(error)}`),
    });
    clock.due()!();
    expect(group.committing).toBe(true);
    group.add(frameUnit('b1', 'b', 1, samples(2)));
    group.add(frameUnit('a2', 'a', 2, samples(1, 1)));
    // No flush is scheduled for them: they wait for the group in flight.
    expect(group.size).toBe(2);
    open();
    await group.flush();
    expect(told()).toEqual(['committed a1 1', 'committed b1 2', 'committed a2 2']);
    expect([group.groups, group.units]).toEqual([2, 3]);
  });

  /** A unit whose work holds its group's commit in flight until the returned `open` is called. */
  function gatedUnit(name: string): { unit: AsyncCommitUnit<number>; open: () => void } {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const unit: AsyncCommitUnit<number> = {
      work: async () => {
        await store.ingest(name, 'ep', 1, samples(1));
        await gate;
        return 1;
      },
      committed: () => log.push(`committed ${name} 1`),
      failed: (error) => log.push(`failed ${name} ${failure(error)}`),
    };
    return { unit, open };
  }

  it('lets a schedule given to it decide when the group after a commit begins too', async () => {
    // The simulation's seeded scheduler decides when every group commits.
    const { unit, open } = gatedUnit('a');
    group.add(unit);
    const first = clock.due()!;
    first();
    group.add(frameUnit('b1', 'b', 1, samples(2)));
    expect(clock.due()).toBe(first); // nothing asked while the group is in flight
    open();
    await until('the first group committed', () => !group.committing);
    expect(told()).toEqual(['committed a 1']);
    // The next group waits for the schedule: it asked for a flush of its own, and runs only when told.
    expect(group.size).toBe(1);
    const next = clock.due()!;
    expect(next).not.toBe(first);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(group.size).toBe(1);
    next();
    await until('the second group committed', () => group.groups === 2);
    expect(told()).toEqual(['committed a 1', 'committed b1 2']);
  });

  it('begins the group after a commit at once by default', async () => {
    const pipeline = new AsyncGroupCommit(store);
    const { unit, open } = gatedUnit('a');
    pipeline.add(unit);
    await until('the first group is committing', () => pipeline.committing);
    pipeline.add(frameUnit('b1', 'b', 1, samples(2)));
    open();
    await until('both groups committed', () => pipeline.groups === 2);
    expect(told()).toEqual(['committed a 1', 'committed b1 2']);
  });

  it('tells onGroup of each group, committed or rolled back, before its units', async () => {
    const groups: CommittedGroup[] = [];
    const observed = new AsyncGroupCommit(store, {
      onGroup: (g) => {
        groups.push(g);
        log.push(`group of ${g.units}`);
      },
    });
    observed.add(frameUnit('a1', 'a', 1, samples(2)));
    observed.add(frameUnit('b1', 'b', 1, samples(1)));
    await observed.flush();
    // A unit that is not isolated and throws rolls its group back.
    observed.add(frameUnit('a-gap', 'a', 9, samples(1)));
    await observed.flush();
    expect(groups.map(({ units, ok }) => ({ units, ok }))).toEqual([
      { units: 2, ok: true },
      { units: 1, ok: false },
    ]);
    for (const g of groups) expect(g.durationMs).toBeGreaterThanOrEqual(0);
    expect(told()).toEqual(['committed a1 2', 'committed b1 1', 'failed a-gap sequence-gap']);
    expect(log.indexOf('group of 2')).toBeLessThan(log.indexOf('committed a1 2'));
  });

  it('undoes only the writes of an isolated unit that throws; the others are committed', async () => {
    group.add(frameUnit('a1', 'a', 1, samples(2)));
    group.add({
      isolated: true,
      work: async () => {
        await store.ingest('b', 'ep', 1, samples(4));
        throw new ProtocolError(ErrorCode.Internal, 'half-way');
      },
      committed: () => log.push('committed b'),
      failed: (error) => log.push(`failed b ${failure(error)}`),
    });
    // A sequence gap: the store refuses it.
    group.add(frameUnit('a-gap', 'a', 9, samples(1), true));
    group.add(frameUnit('a2', 'a', 3, samples(1, 2)));
    await group.flush();
    expect(told()).toEqual([
      'committed a1 2',
      'failed b internal-error',
      'failed a-gap sequence-gap',
      'committed a2 3',
    ]);
    expect(await store.highWaterMark('a', 'ep')).toBe(3);
    expect(await store.highWaterMark('b', 'ep')).toBe(0);
    expect(await store.records('b', { epoch: 'ep' })).toEqual([]);
  });

  it('rolls the whole group back when a unit that is not isolated throws: every unit fails', async () => {
    group.add(frameUnit('a1', 'a', 1, samples(2)));
    group.add({
      work: async () => {
        await store.ingest('b', 'ep', 1, samples(4));
        throw new Error('disk I/O error');
      },
      committed: () => log.push('committed b'),
      failed: (error) => log.push(`failed b ${failure(error)}`),
    });
    group.add(frameUnit('c1', 'c', 1, samples(1)));
    await group.flush();
    expect(told()).toEqual([
      'failed a1 disk I/O error',
      'failed b disk I/O error',
      'failed c1 disk I/O error',
    ]);
    for (const engineId of ['a', 'b', 'c']) expect(await store.highWaterMark(engineId, 'ep')).toBe(0);
  });

  it('fails every unit when the commit fails, and stores nothing of the group', async () => {
    // A store whose outermost transaction fails after the work ran (as a lost connection would at COMMIT).
    let depth = 0;
    const failingCommit = new AsyncGroupCommit({
      transaction: (work) =>
        store.transaction(async () => {
          depth++;
          try {
            const result = await work();
            if (depth === 1) throw new Error('connection lost');
            return result;
          } finally {
            depth--;
          }
        }),
    });
    failingCommit.add(frameUnit('a1', 'a', 1, samples(2)));
    failingCommit.add(frameUnit('b1', 'b', 1, samples(2)));
    await failingCommit.flush();
    expect(told()).toEqual(['failed a1 connection lost', 'failed b1 connection lost']);
    expect(log).not.toContain('transaction of a1 committed');
    expect(await store.highWaterMark('a', 'ep')).toBe(0);
    expect(await store.highWaterMark('b', 'ep')).toBe(0);
  });

  it('tells every unit even when a callback throws, and reports what it threw', async () => {
    const errors: unknown[] = [];
    const reporting = new AsyncGroupCommit(store, { onCallbackError: (e) => errors.push(e) });
    reporting.add({
      work: async () => 1,
      committed: () => {
        throw new Error('listener broke');
      },
      failed: () => {},
    });
    reporting.add(frameUnit('a1', 'a', 1, samples(1)));
    await reporting.flush();
    expect(log).toContain('committed a1 1');
    expect(errors.map((e) => (e as Error).message)).toEqual(['listener broke']);
  });

  it('close commits what is pending, and later units fail at once', async () => {
    group.add(frameUnit('a1', 'a', 1, samples(2)));
    await group.close();
    expect(clock.due()).toBeUndefined(); // the scheduled flush was cancelled: it already happened
    expect(told()).toEqual(['committed a1 2']);
    group.add(frameUnit('a2', 'a', 3, samples(1)));
    expect(log.at(-1)).toBe('failed a2 the store is closing: nothing more is committed');
    expect(await store.highWaterMark('a', 'ep')).toBe(2);
  });

  it('groups by the turn of the event loop by default', async () => {
    const byTurn = new AsyncGroupCommit(store);
    byTurn.add(frameUnit('a1', 'a', 1, samples(1)));
    byTurn.add(frameUnit('b1', 'b', 1, samples(1)));
    expect(log).toEqual([]);
    await new Promise<void>((resolve) => setImmediate(resolve));
    await byTurn.flush();
    expect(byTurn.groups).toBe(1);
    expect(told()).toEqual(['committed a1 1', 'committed b1 1']);
  });
});
