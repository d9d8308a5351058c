import { describe, expect, it } from 'vitest';
import { NamedTimers } from '../../src/time/namedTimers.ts';
import { SilenceWatchdog } from '../../src/time/silenceWatchdog.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';

describe('SilenceWatchdog', () => {
  it('calls onSilence once the peer has been silent for the timeout, and not before', async () => {
    const clock = new SimulatedClock();
    const silences: number[] = [];
    const watchdog = new SilenceWatchdog({ clock, timeoutMs: 2500, onSilence: (ms) => silences.push(ms) });
    watchdog.start();
    await clock.advance(2000);
    watchdog.heard();
    await clock.advance(2000);
    expect(silences).toEqual([]);
    expect(watchdog.watching).toBe(true);
    await clock.advance(500);
    expect(silences).toEqual([2500]);
    expect(watchdog.watching).toBe(false);
    await clock.advance(10_000);
    expect(silences).toEqual([2500]);
  });

  it('says nothing once stopped, and takes a new timeout at the next start', async () => {
    const clock = new SimulatedClock();
    const silences: number[] = [];
    const watchdog = new SilenceWatchdog({ clock, timeoutMs: 1000, onSilence: (ms) => silences.push(ms) });
    watchdog.start();
    await clock.advance(500);
    watchdog.stop();
    await clock.advance(5000);
    expect(silences).toEqual([]);
    watchdog.timeoutMs = 3000;
    watchdog.start();
    await clock.advance(2999);
    expect(silences).toEqual([]);
    await clock.advance(1);
    expect(silences).toEqual([3000]);
  });
});

describe('NamedTimers', () => {
  it('runs one timer per name: starting one replaces the one before it', async () => {
    const clock = new SimulatedClock();
    const timers = new NamedTimers<'a' | 'b'>(clock);
    const fired: string[] = [];
    timers.start('a', 100, () => fired.push('a1'));
    timers.start('a', 200, () => fired.push('a2'));
    timers.start('b', 50, () => fired.push('b'));
    expect(timers.has('a')).toBe(true);
    await clock.advance(300);
    expect(fired).toEqual(['b', 'a2']);
    expect(timers.has('a')).toBe(false);
    timers.start('a', 100, () => fired.push('a3'));
    timers.start('b', 100, () => fired.push('b2'));
    timers.cancel('a');
    await clock.advance(100);
    expect(fired).toEqual(['b', 'a2', 'b2']);
    timers.start('a', 100, () => fired.push('a4'));
    timers.cancelAll();
    await clock.advance(100);
    expect(fired).toEqual(['b', 'a2', 'b2']);
    expect(clock.pendingTimers).toBe(0);
  });
});
