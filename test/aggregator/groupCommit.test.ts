import { describe, expect, it } from 'vitest';
import { type CommitUnit, type FlushScheduler, GroupCommit } from '../../src/aggregator/store/groupCommit.ts';
import { SequenceGapError } from '../../src/aggregator/store/recordStore.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import type { Store } from '../../src/aggregator/store/store.ts';
import { ErrorCode, ProtocolError } from '../../src/protocol/errors.ts';
import type { Item } from '../../src/protocol/records.ts';

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

function samples(n: number, from = 0): Item[] {
  return Array.from({ length: n }, (_, i) => ['s', 'temp', 1_700_000_000_000 + from + i, 20 + i, 'degC']);
}

/** What a unit was told: a protocol error's code, the store's refusal of a sequence gap, or the message. */
function failure(error: unknown): string {
  if (error instanceof ProtocolError) return error.code;
  if (error instanceof SequenceGapError) return 'sequence-gap';
  return (error as Error).message;
}

/** A unit that ingests a frame and logs what happened to it. */
function frameUnit(
  store: Store,
  log: string[],
  name: string,
  engineId: string,
  from: number,
  items: Item[],
  isolated = false,
): CommitUnit<number> {
  return {
    isolated,
    work: () => {
      log.push(`work ${name}`);
      return store.ingest(engineId, 'ep', from, items).persistedSeq;
    },
    committed: (seq) => log.push(`committed ${name} ${seq}`),
    failed: (error) => log.push(`failed ${name} ${failure(error)}`),
  };
}

/** A store in memory, a group commit on it flushed by hand, and a log of what the units were told. */
function fixture() {
  const store = new SqliteStore(':memory:');
  const clock = manualScheduler();
  const group = new GroupCommit(store, { schedule: clock.schedule });
  return { store, clock, group, log: [] as string[] };
}

describe('GroupCommit', () => {
  it('commits the units of one turn together, then tells them in order', () => {
    const { store, clock, group, log } = fixture();
    group.add(frameUnit(store, log, 'a1', 'a', 1, samples(3)));
    group.add(frameUnit(store, log, 'b1', 'b', 1, samples(2)));
    group.add(frameUnit(store, log, 'a2', 'a', 4, samples(2, 3)));
    // Nothing runs before the flush it scheduled.
    expect(log).toEqual([]);
    expect(group.size).toBe(3);
    clock.due()!();
    expect(log).toEqual([
      'work a1',
      'work b1',
      'work a2',
      'committed a1 3',
      'committed b1 2',
      'committed a2 5',
    ]);
    expect(group.groups).toBe(1);
    expect(group.units).toBe(3);
    expect(store.highWaterMark('a', 'ep')).toBe(5);
    expect(store.records('b', { epoch: 'ep' })).toHaveLength(2);
    expect(clock.due()).toBeDefined(); // the scheduler is not asked again until a unit is added
    store.close();
  });

  it('undoes only the writes of an isolated unit that throws; the others are committed', () => {
    const { store, clock, group, log } = fixture();
    group.add(frameUnit(store, log, 'a1', 'a', 1, samples(2)));
    group.add({
      isolated: true,
      work: () => {
        store.ingest('b', 'ep', 1, samples(4));
        throw new ProtocolError(ErrorCode.Internal, 'half-way');
      },
      committed: () => log.push('committed b'),
      failed: (error) => log.push(`failed b ${(error as ProtocolError).code}`),
    });
    // A sequence gap: the store refuses it.
    group.add(frameUnit(store, log, 'a-gap', 'a', 9, samples(1), true));
    group.add(frameUnit(store, log, 'a2', 'a', 3, samples(1, 2)));
    clock.due()!();
    expect(log.filter((line) => !line.startsWith('work'))).toEqual([
      'committed a1 2',
      'failed b internal-error',
      'failed a-gap sequence-gap',
      'committed a2 3',
    ]);
    expect(store.highWaterMark('a', 'ep')).toBe(3);
    expect(store.highWaterMark('b', 'ep')).toBe(0);
    expect(store.records('b', { epoch: 'ep' })).toEqual([]);
    store.close();
  });

  it('rolls the whole group back when a unit that is not isolated throws: every unit fails', () => {
    const { store, clock, group, log } = fixture();
    group.add(frameUnit(store, log, 'a1', 'a', 1, samples(2)));
    group.add({
      work: () => {
        store.ingest('b', 'ep', 1, samples(4));
        throw new Error('disk I/O error');
      },
      committed: () => log.push('committed b'),
      failed: (error) => log.push(`failed b ${(error as Error).message}`),
    });
    group.add(frameUnit(store, log, 'c1', 'c', 1, samples(1)));
    clock.due()!();
    expect(log.filter((line) => !line.startsWith('work'))).toEqual([
      'failed a1 disk I/O error',
      'failed b disk I/O error',
      'failed c1 disk I/O error',
    ]);
    for (const engineId of ['a', 'b', 'c']) expect(store.highWaterMark(engineId, 'ep')).toBe(0);
    store.close();
  });

  it('fails every unit when the commit fails, and stores nothing of the group', () => {
    const inner = new SqliteStore(':memory:');
    // A store whose commit fails after the work ran (as a full disk would at COMMIT).
    let depth = 0;
    const failingCommit: Pick<Store, 'transaction'> = {
      transaction: (work) =>
        inner.transaction(() => {
          depth++;
          try {
            const result = work();
            if (depth === 1) throw new Error('disk full');
            return result;
          } finally {
            depth--;
          }
        }),
    };
    const clock = manualScheduler();
    const group = new GroupCommit(failingCommit, { schedule: clock.schedule });
    const log: string[] = [];
    group.add(frameUnit(inner, log, 'a1', 'a', 1, samples(2)));
    group.add(frameUnit(inner, log, 'b1', 'b', 1, samples(2)));
    clock.due()!();
    expect(log.filter((line) => !line.startsWith('work'))).toEqual([
      'failed a1 disk full',
      'failed b1 disk full',
    ]);
    expect(inner.highWaterMark('a', 'ep')).toBe(0);
    expect(inner.highWaterMark('b', 'ep')).toBe(0);
    inner.close();
  });

  it('tells every unit even when a callback throws, and reports what it threw', () => {
    const store = new SqliteStore(':memory:');
    const clock = manualScheduler();
    const errors: unknown[] = [];
    const group = new GroupCommit(store, {
      schedule: clock.schedule,
      onCallbackError: (e) => errors.push(e),
    });
    const log: string[] = [];
    group.add({
      work: () => 1,
      committed: () => {
        throw new Error('listener broke');
      },
      failed: () => {},
    });
    group.add(frameUnit(store, log, 'a1', 'a', 1, samples(1)));
    clock.due()!();
    expect(log).toContain('committed a1 1');
    expect(errors.map((e) => (e as Error).message)).toEqual(['listener broke']);
    store.close();
  });

  it('close commits what is pending, and later units fail at once', () => {
    const { store, clock, group, log } = fixture();
    group.add(frameUnit(store, log, 'a1', 'a', 1, samples(2)));
    group.close();
    expect(clock.due()).toBeUndefined(); // the scheduled flush was cancelled: it already happened
    expect(log).toEqual(['work a1', 'committed a1 2']);
    group.add(frameUnit(store, log, 'a2', 'a', 3, samples(1)));
    expect(log.at(-1)).toBe('failed a2 the store is closing: nothing more is committed');
    expect(store.highWaterMark('a', 'ep')).toBe(2);
    store.close();
  });

  it('groups by the turn of the event loop by default', async () => {
    const store = new SqliteStore(':memory:');
    const group = new GroupCommit(store);
    const log: string[] = [];
    group.add(frameUnit(store, log, 'a1', 'a', 1, samples(1)));
    group.add(frameUnit(store, log, 'b1', 'b', 1, samples(1)));
    expect(log).toEqual([]);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(group.groups).toBe(1);
    expect(log.filter((line) => line.startsWith('committed'))).toEqual(['committed a1 1', 'committed b1 1']);
    store.close();
  });
});
