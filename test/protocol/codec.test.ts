import { describe, expect, it } from 'vitest';
import {
  decodeAggregatorMessage,
  decodeEngineMessage,
  encodeMessage,
  encodeRecordsFrame,
  sealFrame,
} from '../../src/protocol/codec.ts';
import { ErrorCode, ProtocolError } from '../../src/protocol/errors.ts';
import { encodeGap, encodeRecord, InvalidRecordError, itemClass } from '../../src/protocol/records.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ProtocolError) return error.code;
    throw error;
  }
  return undefined;
}

describe('codec', () => {
  it('round-trips every message type', () => {
    const hello = { type: 'hello', v: 1, engineId: 'sim-1', epoch: 'e1', lastSeq: 5 } as const;
    expect(decodeEngineMessage(encodeMessage(hello))).toEqual(hello);
    const welcome = { type: 'welcome', v: 1, ackSeq: 3, heartbeatMs: 1000 } as const;
    expect(decodeAggregatorMessage(encodeMessage(welcome))).toEqual(welcome);
    expect(decodeAggregatorMessage(sealFrame('{"type":"ack","seq":9}'))).toEqual({ type: 'ack', seq: 9 });
    expect(decodeEngineMessage(sealFrame('{"type":"bye"}'))).toEqual({ type: 'bye' });
  });

  it('builds records frames from encoded items without re-encoding them', () => {
    const items = [
      encodeRecord({ kind: 'sample', tag: 'T1', value: 21.5, unit: 'degC', t: 10 }, 0),
      encodeRecord({ kind: 'state', key: 'phase', value: 'run', t: 11 }, 0),
      encodeRecord({ kind: 'event', name: 'runStarted', data: { runId: 'r1' } }, 12),
      encodeGap(4, 9, 6, 'overflow'),
      encodeRecord({ kind: 'sample', tag: 'T1', value: null, t: 13 }, 0),
    ];
    expect(items.map(itemClass)).toEqual(['sample', 'state', 'event', 'gap', 'sample']);
    const frame = decodeEngineMessage(encodeRecordsFrame(1, items.join(',')));
    expect(frame).toEqual({
      type: 'records',
      from: 1,
      items: [
        ['s', 'T1', 10, 21.5, 'degC'],
        ['st', 'phase', 11, 'run'],
        ['e', 'runStarted', 12, { runId: 'r1' }],
        ['g', 4, 9, 6, 'overflow'],
        ['s', 'T1', 13, null],
      ],
    });
  });

  it('refuses bad frames with the matching error code', () => {
    // Frames built by hand carry their checksum (sealFrame), so that what is behind it is checked.
    const decode = (text: string) => () => decodeEngineMessage(sealFrame(text));
    expect(codeOf(decode('{nope}'))).toBe(ErrorCode.MalformedFrame);
    expect(codeOf(decode('{"type":"records","from":1,}'))).toBe(ErrorCode.MalformedFrame);
    // Not an object: it cannot carry a checksum (a checksummed text ends with `}`), refused for that.
    expect(codeOf(() => decodeEngineMessage('[1,2]'))).toBe(ErrorCode.BadChecksum);
    expect(codeOf(decode('{"type":"launch"}'))).toBe(ErrorCode.UnknownType);
    expect(codeOf(decode('{"type":"welcome","v":1,"ackSeq":0,"heartbeatMs":5}'))).toBe(ErrorCode.UnknownType);
    expect(codeOf(decode('{"type":"hello","v":1,"engineId":"a b","epoch":"e","lastSeq":0}'))).toBe(
      ErrorCode.InvalidMessage,
    );
    expect(codeOf(decode('{"type":"records","from":1,"items":[]}'))).toBe(ErrorCode.InvalidMessage);
    expect(
      codeOf(() => decodeEngineMessage(`{"type":"records","from":1,"items":[${'1'.repeat(50)}]}`, 40)),
    ).toBe(ErrorCode.FrameTooLarge);
  });

  it('checks each item, naming the item and its sequence number', () => {
    const bad = (items: string) => () =>
      decodeEngineMessage(sealFrame(`{"type":"records","from":7,"items":${items}}`));
    expect(codeOf(bad('[["s","T",1,"x"],["s","T",1,{"a":1}]]'))).toBe(ErrorCode.InvalidMessage);
    expect(() => bad('[["s","T",1,"x"],["s","T",1,{"a":1}]]')()).toThrow(/items\.1 \(seq 8\)/);
    expect(() => bad('[["x","T",1]]')()).toThrow(/unknown item kind/);
    expect(() => bad('[["g",8,9,2,"overflow"]]')()).toThrow(/gap must start at the next sequence number 7/);
    expect(() => bad('[["g",7,9,4,"overflow"]]')()).toThrow(/gap count/);
    expect(() => bad('[["s","",1,2]]')()).toThrow(/non-empty string/);
    expect(() => bad('[["e","x",1e999]]')()).toThrow(/time must be a finite number/);
  });

  it('refuses invalid records at send time with a clear error', () => {
    expect(() => encodeRecord({ kind: 'sample', tag: 'T', value: Number.NaN }, 1)).toThrow(
      InvalidRecordError,
    );
    expect(() => encodeRecord({ kind: 'sample', tag: '', value: 1 }, 1)).toThrow(/needs a tag/);
    expect(() => encodeRecord({ kind: 'bogus' } as never, 1)).toThrow(/unknown record kind "bogus"/);
  });
});
