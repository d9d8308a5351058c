import { describe, expect, it } from 'vitest';
import { retryDelay } from '../../src/engine/backoff.ts';

describe('retryDelay', () => {
  it('grows exponentially from 0.5 s and caps at 10 s by default', () => {
    const top = (attempt: number) => retryDelay(attempt, {}, () => 1);
    expect([0, 1, 2, 3, 4, 5, 10].map(top)).toEqual([1000, 2000, 4000, 8000, 10000, 10000, 10000]);
    expect(retryDelay(7, {}, () => 0)).toBe(500);
  });

  it('keeps spreading retries at the cap (full jitter above the floor)', () => {
    let x = 0;
    const delays = Array.from({ length: 11 }, () => retryDelay(20, {}, () => (x++ % 11) / 10));
    expect(Math.min(...delays)).toBe(500);
    expect(Math.max(...delays)).toBe(10000);
    expect(new Set(delays).size).toBe(11);
  });

  it('honours a retryAfterMs from the aggregator as a lower bound', () => {
    expect(retryDelay(0, {}, () => 0, 30_000)).toBe(30_000);
    expect(retryDelay(0, {}, () => 1, 200)).toBe(1000);
  });
});
