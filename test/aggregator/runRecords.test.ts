import { describe, expect, it } from 'vitest';
import { endEvent, newRun, type RunRecord, runRecordsIn } from '../../src/aggregator/runs/runRecords.ts';
import type { Item } from '../../src/protocol/records.ts';

/** How the run ledger reads run records out of a stored frame, and what it makes of them. */
describe('runRecordsIn', () => {
  it('numbers the records of a frame past its gaps, and keeps only run events above the mark', () => {
    const items: Item[] = [
      ['e', 'run.started', 100, { runId: 'r1', method: 'm' }], // 10: at the mark, already applied
      ['s', 'T', 101, 1], // 11
      ['g', 12, 14, 3, 'overflow'], // 12..14
      ['e', 'run.phase', 102, { runId: 'r1', phase: 'paused' }], // 15
      ['e', 'door.opened', 103, { runId: 'r1' }], // 16: not a run record
      ['st', 'run.state', 104, { runId: 'r1' }], // 17: not an event
      ['e', 'run.completed', 105], // 18: no data
      ['e', 'run.failed', 106, ['not', 'an', 'object']], // 19
      ['e', 'run.failed', 107, null], // 20
      ['e', 'run.failed', 108, { runId: 7 }], // 21: runId not a string
    ];
    const records = [...runRecordsIn(10, items, 10)];
    expect(records).toEqual([
      { seq: 15, name: 'run.phase', t: 102, data: { runId: 'r1', phase: 'paused' }, runId: 'r1' },
      { seq: 18, name: 'run.completed', t: 105, data: {}, runId: undefined },
      { seq: 19, name: 'run.failed', t: 106, data: {}, runId: undefined },
      { seq: 20, name: 'run.failed', t: 107, data: {}, runId: undefined },
      { seq: 21, name: 'run.failed', t: 108, data: { runId: 7 }, runId: undefined },
    ]);
  });

  it('takes the first record above the mark, not the one at it', () => {
    const items: Item[] = [
      ['e', 'run.started', 1, { runId: 'a' }],
      ['e', 'run.started', 2, { runId: 'b' }],
    ];
    expect([...runRecordsIn(5, items, 5)].map((r) => r.runId)).toEqual(['b']);
    expect([...runRecordsIn(5, items, 4)].map((r) => r.seq)).toEqual([5, 6]);
  });
});

const record = (name: string, data: RunRecord['data'], t = 50, seq = 9): RunRecord => ({
  seq,
  name,
  t,
  data,
  runId: typeof data.runId === 'string' ? data.runId : undefined,
});

describe('endEvent', () => {
  it('a completion ends at its time; a failure says why, or "failed" when the engine did not', () => {
    expect(endEvent(record('run.completed', { runId: 'r' }))).toEqual({ type: 'RUN_COMPLETED', endedAt: 50 });
    expect(endEvent(record('run.failed', { runId: 'r', reason: 'jammed' }))).toEqual({
      type: 'RUN_FAILED',
      endedAt: 50,
      reason: 'jammed',
    });
    expect(endEvent(record('run.failed', { runId: 'r', reason: 3 }))).toEqual({
      type: 'RUN_FAILED',
      endedAt: 50,
      reason: 'failed',
    });
  });
});

describe('newRun', () => {
  it('from its start: started then, with its method, running, not ended', () => {
    expect(newRun('e', 'ep', record('run.started', { runId: 'r', method: 'm', startedAt: 7 }), 1000)).toEqual(
      {
        id: 'r',
        engineId: 'e',
        epoch: 'ep',
        state: 'active',
        startedAt: 50,
        endedAt: null,
        reason: null,
        method: 'm',
        phase: 'running',
        startSeq: 9,
        endSeq: null,
        since: 1000,
      },
    );
  });

  it('from its end (the start never came): started when the end says, or at the end', () => {
    expect(newRun('e', 'ep', record('run.completed', { runId: 'r', startedAt: 7 }), 0).startedAt).toBe(7);
    expect(newRun('e', 'ep', record('run.failed', { runId: 'r', startedAt: 'x' }), 0).startedAt).toBe(50);
    expect(newRun('e', 'ep', record('run.failed', { runId: 'r', method: 4 }), 0).method).toBeNull();
  });
});
