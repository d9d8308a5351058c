import { describe, expect, it } from 'vitest';
import {
  encodeRecord,
  InvalidRecordError,
  MAX_JSON_DEPTH,
  nestedDeeperThan,
} from '../../src/protocol/records.ts';

/** Builds `{a: {a: ... 1}}` `depth` levels deep without recursion. */
function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

describe('nesting depth of state values and event data (item 12)', () => {
  it('is measured without recursion, arrays and objects alike', () => {
    expect(nestedDeeperThan(nested(MAX_JSON_DEPTH))).toBe(false);
    expect(nestedDeeperThan(nested(MAX_JSON_DEPTH + 1))).toBe(true);
    expect(nestedDeeperThan(nested(1_000_000))).toBe(true);
    expect(nestedDeeperThan([[[1]]], 3)).toBe(false);
    expect(nestedDeeperThan([[[[1]]]], 3)).toBe(true);
    expect(nestedDeeperThan('text')).toBe(false);
  });

  it('the engine refuses in send() what the aggregator would refuse, so nothing blocks its stream', () => {
    expect(() => encodeRecord({ kind: 'event', name: 'deep', data: nested(5000) as never }, 1)).toThrow(
      new InvalidRecordError('event deep: data value nests arrays and objects deeper than 64 levels'),
    );
    expect(() => encodeRecord({ kind: 'state', key: 'deep', value: nested(65) as never }, 1)).toThrow(
      InvalidRecordError,
    );
    expect(encodeRecord({ kind: 'event', name: 'ok', data: nested(64) as never }, 1)).toMatch(
      /^\["e","ok",1,/,
    );
  });
});
