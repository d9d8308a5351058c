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
import { GAP_REASONS, type Item, nameProblem, unitProblem } from './records.ts';

/** Default largest frame either side accepts, in bytes. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

export function encodeMessage(message: EngineMessage | AggregatorMessage): string {
  return JSON.stringify(message);
}

/** Builds a records frame from already-encoded items without parsing or re-encoding them. */
export function encodeRecordsFrame(from: number, encodedItems: string): string {
  return `{"type":"records","from":${from},"items":[${encodedItems}]}`;
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
  let value: unknown;
  try {
    value = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
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
  if (kind === 'st') return item.length === 4 ? undefined : 'state item has 4 elements';
  if (kind === 'e') return item.length <= 4 ? undefined : 'event item has 3 or 4 elements';
  return `unknown item kind ${JSON.stringify(kind)}`;
}
