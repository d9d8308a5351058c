import { describe, expect, it } from 'vitest';
import { PendingCommands } from '../../src/aggregator/session/pendingCommands.ts';
import { CommandLog } from '../../src/engine/commands.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';

describe('one id, one command (item 5)', () => {
  it('the engine runs an id once; the same command again gets its answer, another command id-reused', async () => {
    const log = new CommandLog();
    const ran: string[] = [];
    const handler = ({ name }: { name: string }) => {
      ran.push(name);
      return { did: name };
    };
    expect(await log.run({ id: 'x', name: 'start', args: { method: 'm' } }, handler)).toEqual({
      ok: true,
      result: { did: 'start' },
    });
    expect(await log.run({ id: 'x', name: 'start', args: { method: 'm' } }, handler)).toEqual({
      ok: true,
      result: { did: 'start' },
    });
    expect(await log.run({ id: 'x', name: 'stop', args: undefined }, handler)).toEqual({
      ok: false,
      error: {
        code: 'id-reused',
        message:
          'command id "x" was already used for "start"; "stop" was not run: give each new command a new id',
      },
    });
    expect(await log.run({ id: 'x', name: 'start', args: { method: 'n' } }, handler)).toMatchObject({
      ok: false,
      error: {
        code: 'id-reused',
        message: expect.stringMatching(/another "start" command \(other arguments\)/),
      },
    });
    expect(ran).toEqual(['start']);
  });

  it('the aggregator does not send a different command under an id still waiting for its answer', async () => {
    const pending = new PendingCommands(new SimulatedClock(), 10_000);
    const sent: string[] = [];
    const first = pending.start('x', { name: 'start' }, () => sent.push('start') > 0);
    const again = pending.start('x', { name: 'start' }, () => sent.push('start again') > 0);
    const other = await pending.start('x', { name: 'stop' }, () => sent.push('stop') > 0);
    expect(other).toMatchObject({ status: 'failed', id: 'x', code: 'id-reused' });
    expect(again).toBe(first);
    expect(sent).toEqual(['start']);
    pending.settle({ type: 'commandResult', id: 'x', ok: true, result: 1 });
    expect(await first).toEqual({ status: 'ok', id: 'x', result: 1 });
  });
});
