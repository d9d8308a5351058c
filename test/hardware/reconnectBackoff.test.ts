import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RECONNECT_SCHEDULE_MS,
  reconnectDelay,
  validateReconnectSchedule,
} from '../../src/hardware/reconnectBackoff.ts';
import { ERROR_AFTER_MS, inReconnect, RECONNECT_AFTER_MS, setup } from './support.ts';

describe('reconnectDelay', () => {
  it('waits 0.5 s, 2 s, 10 s, 30 s, 2 min, then 30 min for ever', () => {
    const delays = Array.from({ length: 9 }, (_, failed) => reconnectDelay(failed));
    expect(delays).toEqual([500, 2_000, 10_000, 30_000, 120_000, 1_800_000, 1_800_000, 1_800_000, 1_800_000]);
    expect(reconnectDelay(1_000_000)).toBe(30 * 60 * 1000);
    expect(DEFAULT_RECONNECT_SCHEDULE_MS).toHaveLength(6);
  });

  it('follows a given schedule, repeating its last wait', () => {
    expect([0, 1, 2, 3].map((failed) => reconnectDelay(failed, [100, 300]))).toEqual([100, 300, 300, 300]);
  });

  it('treats odd attempt counts as the nearest sensible position', () => {
    expect(reconnectDelay(-3)).toBe(500);
    expect(reconnectDelay(1.7)).toBe(2_000);
    expect(reconnectDelay(Number.POSITIVE_INFINITY)).toBe(1_800_000);
  });

  it('refuses a schedule that is empty or holds something other than waits', () => {
    expect(() => validateReconnectSchedule([])).toThrow(RangeError);
    expect(() => reconnectDelay(0, [100, -1])).toThrow(/-1 is not a wait/);
    expect(() => reconnectDelay(0, [Number.NaN])).toThrow(RangeError);
    expect(() => setup({ reconnectScheduleMs: [] })).toThrow(RangeError);
  });
});

describe('the recovery follows the schedule', () => {
  it('attempts reconnects 0.5 s, 2 s, 10 s, 30 s, 2 min and then every 30 min apart, into error and on', async () => {
    const rt = setup();
    const attemptsAt: number[] = [];
    rt.recovery.on('reconnectAttempt', () => attemptsAt.push(rt.clock.now()));
    await inReconnect(rt);
    const enteredAt = rt.clock.now();
    await rt.clock.advance(ERROR_AFTER_MS + 2 * 1_800_000);
    expect(rt.recovery.state).toBe('error');
    const gaps = attemptsAt.map((t, i) => t - (i === 0 ? enteredAt : attemptsAt[i - 1]!));
    expect(gaps.slice(0, 6)).toEqual([500, 2_000, 10_000, 30_000, 120_000, 1_800_000]);
    // Entering error (at 5 h) neither restarts nor hurries the schedule.
    expect(new Set(gaps.slice(5))).toEqual(new Set([1_800_000]));
    // Five attempts in the first 162.5 s, then one every 30 min up to 6 h: 16 in all.
    expect(attemptsAt).toHaveLength(16);
    expect(rt.hardware.calls.connect).toBe(1 + attemptsAt.length);
  });

  it('starts again from 0.5 s after a successful reconnect', async () => {
    const rt = setup({ reconnectScheduleMs: [500, 2_000] });
    const delays: number[] = [];
    rt.recovery.on('reconnectScheduled', ({ delayMs }) => delays.push(delayMs));
    await inReconnect(rt);
    await rt.clock.advance(500 + 2_000);
    rt.hardware.repairLink();
    await rt.clock.advance(2_000);
    expect(rt.recovery.state).toBe('ok');
    rt.hardware.breakLink();
    await rt.recovery.read({ name: 'temperature', direction: 'read' });
    await rt.clock.advance(RECONNECT_AFTER_MS);
    expect(delays).toEqual([500, 2_000, 2_000, 500]);
  });
});
