import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMAND_JOURNAL_FILE } from '../../src/engine/commandJournal.ts';
import { CommandLog, INTERRUPTED } from '../../src/engine/commands.ts';

/**
 * The command log kept beside a durable outbox: a command id retried after the engine restarted is
 * answered from the log, never run again (a restart is played by a new CommandLog on the same directory,
 * the old one dropped as a killed process drops it).
 */
const dir = () => mkdtempSync(join(tmpdir(), 'engine-link-commands-'));

describe('CommandLog on disk (beside a durable outbox)', () => {
  it('answers an id retried after a restart with the first answer, without running it again', async () => {
    const path = dir();
    const ran: string[] = [];
    const handler = ({ id }: { id: string }) => {
      ran.push(id);
      return { runId: `run-of-${id}` };
    };
    const first = await new CommandLog(1000, path).run({ id: 'c1', name: 'start', args: {} }, handler);
    expect(first).toEqual({ ok: true, result: { runId: 'run-of-c1' } });
    const restarted = new CommandLog(1000, path);
    expect(await restarted.run({ id: 'c1', name: 'start', args: {} }, handler)).toEqual(first);
    expect(ran).toEqual(['c1']);
    // Another command under the same id is still refused after the restart.
    const reused = await restarted.run({ id: 'c1', name: 'stop', args: {} }, handler);
    expect(reused).toMatchObject({ ok: false, error: { code: 'id-reused' } });
    expect(ran).toEqual(['c1']);
  });

  it('an id whose run a crash interrupted is answered as interrupted, not run again', async () => {
    const path = dir();
    const ran: string[] = [];
    // The first process dies while the command runs: its answer never comes.
    void new CommandLog(1000, path).run({ id: 'c2', name: 'start', args: {} }, () => {
      ran.push('first');
      return new Promise(() => {});
    });
    const restarted = new CommandLog(1000, path);
    const answer = await restarted.run({ id: 'c2', name: 'start', args: {} }, () => ran.push('again'));
    expect(answer).toMatchObject({ ok: false, error: { code: INTERRUPTED } });
    expect(ran).toEqual(['first']);
  });

  it('stays bounded: the last `capacity` ids survive a restart, older ones are forgotten', async () => {
    const path = dir();
    const log = new CommandLog(10, path);
    for (let i = 0; i < 50; i++) await log.run({ id: `c${i}`, name: 'ping', args: {} }, () => i);
    const lines = readFileSync(join(path, COMMAND_JOURNAL_FILE), 'utf8').trim().split('\n');
    expect(lines.length).toBeLessThanOrEqual(2 * 10 + 1);
    const restarted = new CommandLog(10, path);
    const ran: number[] = [];
    expect(await restarted.run({ id: 'c49', name: 'ping', args: {} }, () => ran.push(49))).toEqual({
      ok: true,
      result: 49,
    });
    await restarted.run({ id: 'c0', name: 'ping', args: {} }, () => ran.push(0));
    expect(ran).toEqual([0]);
  });
});
