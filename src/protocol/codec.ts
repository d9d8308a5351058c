import zlib from 'node:zlib';
import type { z } from 'zod';
import { ErrorCode, ProtocolError } from './errors.ts';
import {
  AGGREGATOR_MESSAGE_TYPES,
  type AggregatorMessage,
  aggregatorMessageSchema,
  ENGINE_MESSAGE_TYPES,
  type EngineMessage,
  engineMessageSchema,
} from './messages.ts';
import { GAP_REASONS, type Item, nameProblem, unitProblem, valueProblem } from './records.ts';

/** Default largest frame either side accepts, in bytes. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/*
 * Frame checksum. Every frame, both ways and of every type, is a JSON object whose last member is
 * `"crc":<uint32>`: the CRC-32 (IEEE 802.3, as zlib, gzip and PNG compute it: `zlib.crc32`) of the
 * UTF-8 bytes of the frame text without that member, that is, of the same text with `,"crc":N` removed
 * before its final `}`. So a sender writes its message as a JSON object B (no whitespace needed, any
 * member order), computes crc32(B), and inserts `,"crc":<that number in decimal>` before B's closing
 * brace:
 *
 *   B     = {"type":"ack","seq":9}
 *   frame = {"type":"ack","seq":9,"crc":3877243242}
 *
 * A receiver refuses (`bad-checksum`), before it parses anything, a frame that does not end with
 * `,"crc":<1 to 10 digits, no leading zero>}` or whose number is not the CRC-32 of the text before
 * `,"crc":` followed by `}`; otherwise it parses that text (B), so `crc` never reaches the rest of the
 * code. WebSocket (and TCP) checksums do not cover a frame end to end: a proxy, a NIC or memory between
 * them can change a byte and leave valid JSON with other numbers in it (another sequence number, another
 * value, an ack for records never stored). CRC-32 detects every change within 32 consecutive bits (so
 * every altered byte, and every character replaced by one of the same UTF-8 length) and all but about
 * one in 4 billion of the others.
 */

const CRC_MEMBER = ',"crc":';
const CLOSE_BRACE = 0x7d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
/** The CRC-32 of `}` continued from `crc`: the last byte of the checksummed text, which the frame moved. */
const crcOfCloseBrace = (crc: number) => zlib.crc32('}', crc);

/**
 * Adds the checksum member to the text of a JSON object (`{...}`, at least one member): the exact text
 * sent, never re-serialised. `encodeMessage` and `encodeRecordsFrame` seal what they build; this is for
 * text built some other way (tests).
 */
export function sealFrame(json: string): string {
  if (json.charCodeAt(json.length - 1) !== CLOSE_BRACE || json.charCodeAt(0) !== 0x7b)
    throw new RangeError('only the text of a JSON object ({...}) can be sealed with a checksum');
  return `${json.slice(0, -1)}${CRC_MEMBER}${zlib.crc32(json)}}`;
}

export function encodeMessage(message: EngineMessage | AggregatorMessage): string {
  return sealFrame(JSON.stringify(message));
}

/**
 * Builds a records frame from already-encoded items without parsing or re-encoding them, and seals it:
 * the checksum is computed on the exact text sent (the `}` that ends the checksummed text is folded in
 * after it, rather than building that text twice).
 */
export function encodeRecordsFrame(from: number, encodedItems: string): string {
  const open = `{"type":"records","from":${from},"items":[${encodedItems}]`;
  return `${open}${CRC_MEMBER}${crcOfCloseBrace(zlib.crc32(open))}}`;
}

export function decodeEngineMessage(
  raw: string | Buffer,
  maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
): EngineMessage {
  const message = decode(raw, maxFrameBytes, engineMessageSchema, ENGINE_MESSAGE_TYPES) as EngineMessage;
  if (message.type === 'records') validateItems(message.from, message.items);
  return message;
}

export function decodeAggregatorMessage(
  raw: string | Buffer,
  maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
): AggregatorMessage {
  return decode(raw, maxFrameBytes, aggregatorMessageSchema, AGGREGATOR_MESSAGE_TYPES) as AggregatorMessage;
}

/**
 * Checks a frame's checksum and returns its text without the checksum member (the JSON to parse).
 * Throws `bad-checksum` when the member is missing, not last, not a canonical uint32, or wrong.
 */
export function unsealFrame(raw: string | Buffer): string {
  const at: (i: number) => number =
    typeof raw === 'string' ? (i) => raw.charCodeAt(i) : (i) => raw[i] ?? Number.NaN;
  const last = raw.length - 1;
  if (last < 0 || at(last) !== CLOSE_BRACE) throw missingChecksum();
  // At most 10 digits (2^32 - 1 = 4294967295), no leading zero, right after `,"crc":`.
  let start = last;
  while (start > last - 11 && isDigit(at(start - 1))) start--;
  const digits = last - start;
  const memberAt = start - CRC_MEMBER.length;
  if (
    digits === 0 ||
    digits > 10 ||
    (digits > 1 && at(start) === DIGIT_0) ||
    memberAt < 1 ||
    !hasMemberAt(raw, memberAt)
  )
    throw missingChecksum();
  let expected = 0;
  for (let i = start; i < last; i++) expected = expected * 10 + (at(i) - DIGIT_0);
  // The checksummed text: everything before `,"crc":`, then the closing brace.
  let body: string;
  let computed: number;
  if (typeof raw === 'string') {
    body = `${raw.slice(0, memberAt)}}`;
    computed = zlib.crc32(body);
  } else {
    computed = crcOfCloseBrace(zlib.crc32(raw.subarray(0, memberAt)));
    body = `${raw.toString('utf8', 0, memberAt)}}`;
  }
  if (computed !== expected)
    throw new ProtocolError(
      ErrorCode.BadChecksum,
      `frame checksum mismatch: expected ${expected}, computed ${computed}; the frame was corrupted in ` +
        'transit and was not used: send it again',
    );
  return body;
}

function isDigit(code: number): boolean {
  return code >= DIGIT_0 && code <= DIGIT_9;
}

function hasMemberAt(raw: string | Buffer, offset: number): boolean {
  if (typeof raw === 'string') return raw.startsWith(CRC_MEMBER, offset);
  for (let i = 0; i < CRC_MEMBER.length; i++) if (raw[offset + i] !== CRC_MEMBER.charCodeAt(i)) return false;
  return true;
}

function missingChecksum(): ProtocolError {
  return new ProtocolError(
    ErrorCode.BadChecksum,
    'frame has no checksum: every frame must end with ,"crc":<CRC-32 of the frame without that member>}; ' +
      'the frame was not used',
  );
}

function decode(
  raw: string | Buffer,
  maxFrameBytes: number,
  schema: z.ZodType<unknown>,
  knownTypes: readonly string[],
): unknown {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > maxFrameBytes)
    throw new ProtocolError(
      ErrorCode.FrameTooLarge,
      `frame of ${size} bytes exceeds the limit of ${maxFrameBytes}`,
    );
  // Before anything of the frame is read: a corrupted frame may still be valid JSON and a valid message.
  const body = unsealFrame(raw);
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new ProtocolError(ErrorCode.MalformedFrame, `frame is not JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ProtocolError(ErrorCode.InvalidMessage, 'frame is not a JSON object');
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string' || !knownTypes.includes(type))
    throw new ProtocolError(
      ErrorCode.UnknownType,
      `unknown message type ${JSON.stringify(type)}; expected one of ${knownTypes.join(', ')}`,
    );
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : type;
    throw new ProtocolError(ErrorCode.InvalidMessage, `${type}: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/**
 * Checks every item of a records frame and that gap items continue the sequence. Hand-written rather
 * than a zod tuple union: this runs once per record on the ingest hot path, where a schema walk per item
 * costs several times the SQLite insert it precedes.
 */
export function validateItems(from: number, items: unknown[]): asserts items is Item[] {
  let seq = from;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const problem = itemProblem(item, seq);
    if (problem)
      throw new ProtocolError(ErrorCode.InvalidMessage, `records: items.${i} (seq ${seq}): ${problem}`);
    const it = item as Item;
    seq = it[0] === 'g' ? it[2] + 1 : seq + 1;
  }
}

function itemProblem(item: unknown, seq: number): string | undefined {
  if (!Array.isArray(item) || item.length < 3) return 'item must be an array of at least 3 elements';
  const kind = item[0];
  if (kind === 'g') {
    const [, fromSeq, toSeq, count, reason] = item;
    if (item.length !== 5) return 'gap item has 5 elements';
    if (fromSeq !== seq) return `gap must start at the next sequence number ${seq}`;
    if (!Number.isSafeInteger(toSeq) || toSeq < fromSeq) return 'gap toSeq must be an integer >= fromSeq';
    if (!Number.isSafeInteger(count) || count < 0 || count > toSeq - fromSeq + 1)
      return 'gap count out of range';
    if (!GAP_REASONS.includes(reason)) return `gap reason must be one of ${GAP_REASONS.join(', ')}`;
    return undefined;
  }
  const badName = nameProblem(item[1]);
  if (badName) return badName;
  if (typeof item[2] !== 'number' || !Number.isFinite(item[2])) return 'time must be a finite number';
  if (kind === 's') {
    const v = item[3];
    if (item.length > 5 || item.length < 4) return 'sample item has 4 or 5 elements';
    if (
      typeof v === 'number'
        ? !Number.isFinite(v)
        : v !== null && typeof v !== 'string' && typeof v !== 'boolean'
    )
      return 'sample value must be a finite number, string, boolean or null';
    if (item.length === 5) return unitProblem(item[4]);
    return undefined;
  }
  if (kind === 'f') {
    const [, , , v, windowStart, windowEnd, samples, unit] = item;
    if (item.length > 8 || item.length < 7) return 'thinned sample item has 7 or 8 elements';
    if (
      typeof v === 'number'
        ? !Number.isFinite(v)
        : v !== null && typeof v !== 'string' && typeof v !== 'boolean'
    )
      return 'sample value must be a finite number, string, boolean or null';
    if (
      typeof windowStart !== 'number' ||
      typeof windowEnd !== 'number' ||
      !Number.isFinite(windowStart) ||
      !Number.isFinite(windowEnd) ||
      windowEnd < windowStart
    )
      return 'thinned window must be two finite times, start <= end';
    if (!Number.isSafeInteger(samples) || samples < 1) return 'thinned sample count must be an integer >= 1';
    if (item.length === 8) return unitProblem(unit);
    return undefined;
  }
  if (kind === 'st') return item.length === 4 ? valueProblem(item[3]) : 'state item has 4 elements';
  if (kind === 'e') return item.length <= 4 ? valueProblem(item[3]) : 'event item has 3 or 4 elements';
  return `unknown item kind ${JSON.stringify(kind)}`;
}
