import { describe, expect, it } from 'vitest';
import { firstAbove } from '../../src/engine/outbox/firstAbove.ts';

describe('firstAbove', () => {
  const keys = [2, 4, 4, 7, 9];
  const search = (value: number, from = 0, to = keys.length) => firstAbove(from, to, (i) => keys[i]!, value);

  it('finds the first index whose key is above the value, past equal keys', () => {
    expect(search(1)).toBe(0);
    expect(search(2)).toBe(1);
    expect(search(3)).toBe(1);
    expect(search(4)).toBe(3);
    expect(search(8)).toBe(4);
  });

  it('answers the end of the range when no key is above the value', () => {
    expect(search(9)).toBe(5);
    expect(search(100)).toBe(5);
    expect(firstAbove(0, 0, () => 0, 5)).toBe(0);
  });

  it('searches only within [from, to)', () => {
    expect(search(1, 2)).toBe(2);
    expect(search(8, 0, 3)).toBe(3);
  });

  it('agrees with a linear scan on random sorted keys', () => {
    for (let round = 0; round < 200; round++) {
      const sorted = Array.from({ length: round % 17 }, () => Math.floor(Math.random() * 20)).sort(
        (a, b) => a - b,
      );
      const value = Math.floor(Math.random() * 22) - 1;
      const linear = sorted.findIndex((key) => key > value);
      expect(firstAbove(0, sorted.length, (i) => sorted[i]!, value)).toBe(
        linear === -1 ? sorted.length : linear,
      );
    }
  });
});
