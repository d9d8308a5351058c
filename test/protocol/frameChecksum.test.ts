import zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeAggregatorMessage,
  decodeEngineMessage,
  encodeMessage,
  encodeRecordsFrame,
  sealFrame,
  unsealFrame,
} from '../../src/protocol/codec.ts';
import { CloseCode, closeCodeFor, ErrorCode, ProtocolError } from '../../src/protocol/errors.ts';
import type { AggregatorMessage, EngineMessage } from '../../src/protocol/messages.ts';
import { encodeGap, encodeRecord } from '../../src/protocol/records.ts';

/**
 * The frame checksum: every frame ends with `,"crc":N}`, N the CRC-32 of the frame without that member.
 * A frame whose checksum is missing, misplaced or wrong is refused (`bad-checksum`) before anything of it
 * is read, and a frame that passes gives the message without `crc`.
 */

function errorOf(fn: () => unknown): ProtocolError | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  return undefined;
}

const codeOf = (fn: () => unknown) => errorOf(fn)?.code;

const ENGINE_MESSAGES: EngineMessage[] = [
  {
    type: 'hello',
    v: 1,
    engineId: 'line-1',
    epoch: 'ep-1',
    lastSeq: 120,
    firstSeq: 101,
    snapshot: { current: { runId: 'r1', phase: 'heat', startedAt: 5 }, last: null },
  },
  { type: 'records', from: 7, items: [['s', 'reactor.temperature', 1764370000123.5, 21.5, 'degC']] },
  { type: 'commandResult', id: 'c-1', ok: true, result: { set: 40, crc: 'not the checksum' } },
  { type: 'commandResult', id: 'c-2', ok: false, error: { code: 'busy', message: 'heating' } },
  { type: 'pong', t: 1234 },
  { type: 'pong' },
  { type: 'bye', reason: 'engine stopping' },
  { type: 'bye' },
];

const AGGREGATOR_MESSAGES: AggregatorMessage[] = [
  { type: 'welcome', v: 1, ackSeq: 100, heartbeatMs: 1000 },
  { type: 'welcome', v: 1, ackSeq: 0, heartbeatMs: 1000, retryAfterMs: 50 },
  { type: 'ack', seq: 9 },
  { type: 'command', id: 'c-1', name: 'setTemperature', args: { value: 40, unit: 'degC' } },
  { type: 'command', id: 'c-3', name: 'stop' },
  { type: 'ping', t: 99 },
  { type: 'error', code: ErrorCode.BadChecksum, message: 'frame checksum mismatch: ü, 漢字' },
  { type: 'error', code: ErrorCode.Busy, message: 'busy', retryAfterMs: 500 },
];

/** The frame without its checksum member: the text the checksum is computed on. */
function withoutChecksum(frame: string): string {
  const match = /^([\s\S]*),"crc":(\d+)\}$/.exec(frame);
  if (!match) throw new Error(`no checksum in ${frame}`);
  return `${match[1]}}`;
}

describe('frame checksum: the wire format', () => {
  it('is a last member "crc", the CRC-32 (zlib.crc32) of the frame without that member', () => {
    expect(encodeMessage({ type: 'ack', seq: 9 })).toBe('{"type":"ack","seq":9,"crc":3877243242}');
    expect(zlib.crc32('{"type":"ack","seq":9}')).toBe(3877243242);
    for (const message of [...ENGINE_MESSAGES, ...AGGREGATOR_MESSAGES]) {
      const frame = encodeMessage(message);
      const body = withoutChecksum(frame);
      expect(body).toBe(JSON.stringify(message));
      expect(frame).toBe(`${body.slice(0, -1)},"crc":${zlib.crc32(body)}}`);
    }
  });

  it('covers the UTF-8 bytes of the text (not its UTF-16 units)', () => {
    const frame = encodeMessage({ type: 'error', code: 'x', message: 'ü 漢字 😀' });
    expect(frame.endsWith(`,"crc":${zlib.crc32(Buffer.from(withoutChecksum(frame), 'utf8'))}}`)).toBe(true);
  });

  it('is the same for records frames built from encoded items as for the same message encoded whole', () => {
    const items = [
      encodeRecord({ kind: 'sample', tag: 'reactor.temperature', value: 21.5, unit: 'degC', t: 10.5 }, 0),
      encodeRecord({ kind: 'state', key: 'phase', value: 'run', t: 11 }, 0),
      encodeRecord({ kind: 'event', name: 'run.started', data: { runId: 'r1', note: 'é' } }, 12),
      encodeGap(4, 9, 6, 'overflow'),
    ];
    const frame = encodeRecordsFrame(1, items.join(','));
    const message = decodeEngineMessage(frame);
    expect(frame).toBe(encodeMessage(message));
    expect(sealFrame(withoutChecksum(frame))).toBe(frame);
  });

  it('sealFrame seals only a JSON object text', () => {
    expect(sealFrame('{"type":"bye"}')).toBe(encodeMessage({ type: 'bye' }));
    expect(() => sealFrame('[1,2]')).toThrow(RangeError);
    expect(() => sealFrame('"hello"')).toThrow(RangeError);
    expect(() => sealFrame('')).toThrow(RangeError);
  });
});

describe('frame checksum: decoding', () => {
  it('round-trips every message type, as text and as bytes, with no crc left in the message', () => {
    for (const message of ENGINE_MESSAGES) {
      const frame = encodeMessage(message);
      for (const raw of [frame, Buffer.from(frame)]) {
        const decoded = decodeEngineMessage(raw);
        expect(decoded).toEqual(message);
        expect(Object.hasOwn(decoded, 'crc')).toBe(false);
      }
    }
    for (const message of AGGREGATOR_MESSAGES) {
      const frame = encodeMessage(message);
      for (const raw of [frame, Buffer.from(frame)]) {
        const decoded = decodeAggregatorMessage(raw);
        expect(decoded).toEqual(message);
        expect(Object.hasOwn(decoded, 'crc')).toBe(false);
      }
    }
  });

  it('refuses a frame without a checksum, of every type, as bad-checksum with a clear message', () => {
    for (const message of ENGINE_MESSAGES)
      expect(codeOf(() => decodeEngineMessage(JSON.stringify(message)))).toBe(ErrorCode.BadChecksum);
    for (const message of AGGREGATOR_MESSAGES)
      expect(codeOf(() => decodeAggregatorMessage(JSON.stringify(message)))).toBe(ErrorCode.BadChecksum);
    expect(errorOf(() => decodeAggregatorMessage('{"type":"ack","seq":9}'))?.message).toBe(
      'bad-checksum: frame has no checksum: every frame must end with ,"crc":<CRC-32 of the frame without ' +
        'that member>}; the frame was not used',
    );
    for (const text of ['', '}', '{}', ',"crc":1}', 'null', '{"type":"bye"', '{nope'])
      expect(
        codeOf(() => decodeEngineMessage(text)),
        text,
      ).toBe(ErrorCode.BadChecksum);
  });

  it('refuses a wrong checksum, saying what it expected and what it computed', () => {
    const error = errorOf(() => decodeAggregatorMessage('{"type":"ack","seq":19,"crc":3877243242}'));
    expect(error?.code).toBe(ErrorCode.BadChecksum);
    expect(error?.message).toBe(
      `bad-checksum: frame checksum mismatch: expected 3877243242, computed ${zlib.crc32('{"type":"ack","seq":19}')}; ` +
        'the frame was corrupted in transit and was not used: send it again',
    );
  });

  it('refuses a checksum member that is not last, not a plain uint32, or not the only way to read it', () => {
    const body = '{"type":"ack","seq":9}';
    const crc = zlib.crc32(body);
    const refused = [
      `{"crc":${crc},"type":"ack","seq":9}`,
      `{"type":"ack","crc":${crc},"seq":9}`,
      `{"type":"ack","seq":9,"crc":${crc},"x":1}`,
      `{"type":"ack","seq":9,"crc":${crc}} `,
      `{"type":"ack","seq":9,"crc":${crc}}\n`,
      `{"type":"ack","seq":9, "crc":${crc}}`,
      `{"type":"ack","seq":9,"crc": ${crc}}`,
      `{"type":"ack","seq":9,"crc":${crc} }`,
      `{"type":"ack","seq":9,"crc":"${crc}"}`,
      `{"type":"ack","seq":9,"crc":0${crc}}`,
      `{"type":"ack","seq":9,"crc":${crc}.0}`,
      `{"type":"ack","seq":9,"crc":-${crc}}`,
      `{"type":"ack","seq":9,"crc":${crc + 2 ** 32}}`,
      `{"type":"ack","seq":9,"crc":1${'0'.repeat(20)}}`,
      `{"type":"ack","seq":9,"CRC":${crc}}`,
      `{"type":"ack","seq":9,"crc":}`,
      `{"type":"ack","seq":9}"crc":${crc}}`,
    ];
    for (const frame of refused) {
      expect(
        codeOf(() => decodeAggregatorMessage(frame)),
        frame,
      ).toBe(ErrorCode.BadChecksum);
      expect(
        codeOf(() => decodeAggregatorMessage(Buffer.from(frame))),
        frame,
      ).toBe(ErrorCode.BadChecksum);
    }
    expect(decodeAggregatorMessage(`{"type":"ack","seq":9,"crc":${crc}}`)).toEqual({ type: 'ack', seq: 9 });
  });

  it('checks the checksum before anything else of the frame is read; the size limit comes first', () => {
    // Valid JSON of a valid message, or invalid JSON, or an unknown type: without the checksum, all the same.
    expect(codeOf(() => decodeEngineMessage('{"type":"launch","crc":1}'))).toBe(ErrorCode.BadChecksum);
    expect(codeOf(() => decodeEngineMessage('{"type":"records","from":1,"items":[],"crc":1}'))).toBe(
      ErrorCode.BadChecksum,
    );
    // With a valid checksum, what is behind it is checked as before.
    expect(codeOf(() => decodeEngineMessage(sealFrame('{"type":"launch"}')))).toBe(ErrorCode.UnknownType);
    expect(codeOf(() => decodeEngineMessage(sealFrame('{"type":"records","from":1,}')))).toBe(
      ErrorCode.MalformedFrame,
    );
    expect(codeOf(() => decodeEngineMessage(sealFrame('{"type":"records","from":1,"items":[]}')))).toBe(
      ErrorCode.InvalidMessage,
    );
    expect(codeOf(() => decodeEngineMessage(sealFrame('{"type":"records","from":1,"items":[1]}')))).toBe(
      ErrorCode.InvalidMessage,
    );
    expect(
      codeOf(() => decodeEngineMessage(`{"type":"records","from":1,"items":[${'1'.repeat(50)}]}`, 40)),
    ).toBe(ErrorCode.FrameTooLarge);
  });

  it('is one bad frame: the close code of invalid-message, should a peer close over it', () => {
    expect(closeCodeFor(ErrorCode.BadChecksum)).toBe(closeCodeFor(ErrorCode.InvalidMessage));
    expect(closeCodeFor(ErrorCode.BadChecksum)).toBe(CloseCode.ProtocolError);
  });

  it('unsealFrame gives the checksummed text, for text and bytes alike', () => {
    const frame = encodeMessage({ type: 'error', code: 'x', message: 'ü 漢字 😀' });
    expect(unsealFrame(frame)).toBe(withoutChecksum(frame));
    expect(unsealFrame(Buffer.from(frame))).toBe(withoutChecksum(frame));
  });
});

// Property tests: any message, any single corrupted byte.

const text = fc.string({ unit: 'binary', maxLength: 24 });
const seq = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const item = fc.oneof(
  fc
    .tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.double({ noNaN: true, noDefaultInfinity: true }))
    .map(([tag, value]) => ['s', tag, 1764370000123.5, value, 'degC']),
  fc
    .tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.jsonValue({ maxDepth: 2 }))
    .map(([k, v]) => ['st', k, 1, v]),
  fc.string({ minLength: 1, maxLength: 20 }).map((name) => ['e', name, 2]),
);
const engineMessage: fc.Arbitrary<EngineMessage> = fc.oneof(
  fc.record({
    type: fc.constant('hello' as const),
    v: fc.constant(1),
    engineId: fc.constant('e-1'),
    epoch: text.filter((s) => s.length > 0),
    lastSeq: seq,
  }),
  fc.record({
    type: fc.constant('records' as const),
    from: fc.integer({ min: 1, max: 1e12 }),
    items: fc.array(item, { minLength: 1, maxLength: 8 }),
  }) as fc.Arbitrary<EngineMessage>,
  fc.record({
    type: fc.constant('commandResult' as const),
    id: fc.constant('c-1'),
    ok: fc.boolean(),
    result: fc.jsonValue({ maxDepth: 2 }),
  }),
  fc.record({ type: fc.constant('pong' as const), t: fc.nat() }),
  fc.record({ type: fc.constant('bye' as const), reason: text }),
);
const aggregatorMessage: fc.Arbitrary<AggregatorMessage> = fc.oneof(
  fc.record({
    type: fc.constant('welcome' as const),
    v: fc.constant(1),
    ackSeq: seq,
    heartbeatMs: fc.integer({ min: 1, max: 60_000 }),
  }),
  fc.record({ type: fc.constant('ack' as const), seq }),
  fc.record({
    type: fc.constant('command' as const),
    id: fc.constant('c-1'),
    name: fc.constant('set'),
    args: fc.jsonValue({ maxDepth: 2 }),
  }),
  fc.record({ type: fc.constant('ping' as const), t: fc.nat() }),
  fc.record({
    type: fc.constant('error' as const),
    code: fc.constantFrom(...Object.values(ErrorCode)),
    message: text,
  }),
);
type Side = { frame: string; decode: (raw: string | Buffer) => unknown };
const anyFrame: fc.Arbitrary<Side> = fc.oneof(
  engineMessage.map((m) => ({
    frame: encodeMessage(m),
    decode: (raw: string | Buffer) => decodeEngineMessage(raw),
  })),
  aggregatorMessage.map((m) => ({
    frame: encodeMessage(m),
    decode: (raw: string | Buffer) => decodeAggregatorMessage(raw),
  })),
);

describe('frame checksum: one corrupted byte anywhere is refused (fast-check)', () => {
  it('every frame decodes as sent', () => {
    fc.assert(
      fc.property(anyFrame, ({ frame, decode }) => {
        expect(decode(frame)).toEqual(JSON.parse(withoutChecksum(frame)));
      }),
      { numRuns: 500 },
    );
  });

  it('a byte of the frame changed to any other value: bad-checksum, whatever the byte', () => {
    fc.assert(
      fc.property(
        anyFrame,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        ({ frame, decode }, position, xor) => {
          const bytes = Buffer.from(frame);
          const at = position % bytes.length;
          bytes[at] = bytes[at]! ^ xor;
          expect(
            codeOf(() => decode(bytes)),
            `byte ${at} of ${frame} ^ ${xor}`,
          ).toBe(ErrorCode.BadChecksum);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('a single bit flipped, in every position of a records frame: bad-checksum', () => {
    const frame = encodeRecordsFrame(41, '["s","reactor.temperature",1764370000123.5,21.5,"degC"]');
    const bytes = Buffer.from(frame);
    for (let at = 0; at < bytes.length; at++)
      for (let bit = 0; bit < 8; bit++) {
        const corrupted = Buffer.from(bytes);
        corrupted[at] = corrupted[at]! ^ (1 << bit);
        expect(
          codeOf(() => decodeEngineMessage(corrupted)),
          `byte ${at} bit ${bit}`,
        ).toBe(ErrorCode.BadChecksum);
      }
  });

  it('a character of the text replaced by another ASCII one (as ws hands frames over): bad-checksum', () => {
    fc.assert(
      fc.property(
        anyFrame,
        fc.nat(),
        fc.integer({ min: 0, max: 0x7f }),
        ({ frame, decode }, position, code) => {
          const at = position % frame.length;
          fc.pre(frame.charCodeAt(at) < 0x80 && frame.charCodeAt(at) !== code);
          const corrupted = `${frame.slice(0, at)}${String.fromCharCode(code)}${frame.slice(at + 1)}`;
          expect(
            codeOf(() => decode(corrupted)),
            corrupted,
          ).toBe(ErrorCode.BadChecksum);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
