import { describe, expect, it } from 'vitest';
import { validateItems } from '../../src/protocol/codec.ts';
import { encodeThinnedSample, itemClass } from '../../src/protocol/records.ts';

/** The thinned-sample item of offline sampling: a sample that also names its window and its count. */
describe('thinned sample items', () => {
  it('encodes, classifies and validates as a sample taking one sequence number', () => {
    const text = encodeThinnedSample({ tag: 'T1', t: 1950, value: 4.2, unit: 'bar' }, 1000, 2000, 20);
    expect(JSON.parse(text)).toEqual(['f', 'T1', 1950, 4.2, 1000, 2000, 20, 'bar']);
    expect(itemClass(text)).toBe('sample');
    const items: unknown[] = [JSON.parse(text), ['g', 11, 12, 2, 'overflow'], ['s', 'T1', 2100, 1]];
    expect(() => validateItems(10, items)).not.toThrow();
    expect(() => validateItems(10, [['f', 'T1', 1, 2, 1000, 2000, 3]])).not.toThrow();
  });

  it('refuses a window that ends before it starts, a bad count or a bad unit', () => {
    expect(() => validateItems(1, [['f', 'T1', 1, 2, 2000, 1000, 3]])).toThrow(/thinned window/);
    expect(() => validateItems(1, [['f', 'T1', 1, 2, 1000, 2000, 0]])).toThrow(/count/);
    expect(() => validateItems(1, [['f', 'T1', 1, 2, 1000, 2000, 2.5]])).toThrow(/count/);
    expect(() => validateItems(1, [['f', 'T1', 1, 2, 1000, 2000, 3, 7]])).toThrow(/unit/);
    expect(() => validateItems(1, [['f', 'T1', 1, 2, 1000]])).toThrow(/7 or 8 elements/);
  });

  it('accepts the gap reason "unsynced" of a durable outbox after a crash', () => {
    expect(() => validateItems(5, [['g', 5, 300, 296, 'unsynced']])).not.toThrow();
  });
});
