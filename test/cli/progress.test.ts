import { EventEmitter } from 'eventemitter3';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CatchUpProgress, formatBar, formatDuration, showCatchUp } from '../../src/cli/progress.ts';

/** A terminal or a pipe, recording what is written. */
function output(isTTY: boolean) {
  const writes: string[] = [];
  return { isTTY, columns: 120, writes, write: (text: string) => writes.push(text) };
}

/** A pino logger whose JSON lines land in `lines`. */
function logger() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'info', base: undefined },
    { write: (line: string) => lines.push(JSON.parse(line)) },
  );
  return { log, lines };
}

describe('catch-up progress', () => {
  it('draws a bar with records sent/total, rate and time left', () => {
    expect(formatBar({ sent: 9600, total: 20_000, rate: 4800, secondsLeft: 2.2 }, 120)).toBe(
      `catching up [${'█'.repeat(14)}${'░'.repeat(16)}]  48%  9,600/20,000 records  4,800 rec/s  2 s left`,
    );
    expect(formatBar({ sent: 0, total: 500, rate: 0, secondsLeft: null }, 120)).toBe(
      `catching up [${'░'.repeat(30)}]   0%  0/500 records  … rec/s`,
    );
    expect(formatDuration(0.2)).toBe('<1 s');
    expect(formatDuration(75)).toBe('1 min 15 s');
    expect(formatDuration(3 * 3600 + 120)).toBe('3 h 02 min');
  });

  it('on a terminal, redraws the bar in place, keeps log lines clear of it, and ends with a summary', () => {
    let now = 0;
    const tty = output(true);
    const progress = new CatchUpProgress({ output: tty, now: () => now });
    const { log } = logger();
    progress.setLog(log);
    expect(progress.isBar).toBe(true);
    progress.update({ sent: 0, total: 10_000 });
    now = 1000;
    progress.update({ sent: 2500, total: 10_000 });
    expect(tty.writes.at(-1)).toBe(
      `\r\x1b[2K${formatBar({ sent: 2500, total: 10_000, rate: 2500, secondsLeft: 3 }, 120)}`,
    );
    // A log line clears the bar, is written on its own line, and the bar comes back under it.
    progress.logDestination().write('{"msg":"link flushing"}\n');
    expect(tty.writes.slice(-3)).toEqual([
      '\r\x1b[2K',
      '{"msg":"link flushing"}\n',
      formatBar({ sent: 2500, total: 10_000, rate: 2500, secondsLeft: 3 }, 120),
    ]);
    now = 1050;
    const before = tty.writes.length;
    progress.update({ sent: 2600, total: 10_000 });
    expect(tty.writes.length, 'no redraw within 100 ms').toBe(before);
    now = 4000;
    progress.update({ sent: 10_000, total: 10_000 });
    expect(tty.writes.at(-1)).toBe('\ncaught up: 10,000 records in 4 s (2,500 rec/s)\n');
  });

  it('when output is not a terminal, writes plain log lines: start, at most one a second, end', () => {
    let now = 0;
    const { log, lines } = logger();
    const pipe = output(false);
    const progress = new CatchUpProgress({ output: pipe, log, now: () => now });
    expect(progress.isBar).toBe(false);
    progress.update({ sent: 0, total: 3000 });
    for (const [at, sent] of [
      [500, 500],
      [1000, 1000],
      [1500, 1500],
      [2000, 2000],
    ] as const) {
      now = at;
      progress.update({ sent, total: 3000 });
    }
    now = 3000;
    progress.update({ sent: 3000, total: 3000 });
    expect(pipe.writes).toEqual([]);
    expect(lines.map((l) => [l.catchUp, l.msg])).toEqual([
      ['started', 'catch-up started'],
      ['progress', 'catching up: 1,000/3,000 records, 1,000 rec/s, 2 s left'],
      ['progress', 'catching up: 2,000/3,000 records, 1,000 rec/s, 1 s left'],
      ['done', 'caught up: 3,000 records in 3 s (1,000 rec/s)'],
    ]);
    expect(lines[1]).toMatchObject({ sent: 1000, total: 3000, rate: 1000, secondsLeft: 2 });
  });

  it('says when a catch-up is cut short by the link dropping again', () => {
    let now = 0;
    const { log, lines } = logger();
    const progress = new CatchUpProgress({ output: output(false), log, now: () => now });
    const dispatcher = new EventEmitter();
    showCatchUp(dispatcher, progress);
    dispatcher.emit('state', 'flushing');
    dispatcher.emit('flushProgress', { sent: 0, total: 800 });
    now = 400;
    dispatcher.emit('flushProgress', { sent: 200, total: 800 });
    dispatcher.emit('state', 'buffering.waiting');
    dispatcher.emit('state', 'connected');
    expect(lines.map((l) => l.msg)).toEqual([
      'catch-up started',
      'catch-up interrupted at 200/800 records: the link dropped',
    ]);
  });
});
