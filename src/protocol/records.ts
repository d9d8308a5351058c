/**
 * Records: what an engine produces, and their compact wire form ("items").
 *
 * An item is a JSON array whose first element names its kind. Items in a `records` frame carry no
 * sequence number of their own: the frame's `from` is the first item's, and each item takes the next
 * one, except a gap item, which stands for the whole range it names.
 *
 *   sample  ["s", tag, t, value, unit?]       may be dropped by the overflow policy (leaving a gap)
 *   thinned ["f", tag, t, value, windowStart, windowEnd, samples, unit?]
 *                                             the latest of `samples` (>= 2) samples of `tag` taken in
 *                                             [windowStart, windowEnd) while the link was down, folded
 *                                             into one record by offline sampling; a sample in every other
 *                                             respect (the folded samples never took sequence numbers)
 *   state   ["st", key, t, value]             latest value wins: may be coalesced
 *   event   ["e", name, t, data?]             never dropped
 *   gap     ["g", fromSeq, toSeq, count, reason]   records fromSeq..toSeq that will never come; for
 *                                             'unsynced' and 'corrupt' ranges recovered by a durable outbox
 *                                             `count` is an upper bound (sequence numbers reserved, of which
 *                                             the engine cannot know after a crash how many it had used)
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** The value of a sample. */
export type SampleValue = number | string | boolean | null;

/**
 * A record an engine sends: a sample (a tag's value), a state (a key's latest value wins) or an event (never
 * dropped). `t` is the engine's time, ms since the Unix epoch (default: now).
 */
export type EngineRecord =
  | { kind: 'sample'; tag: string; value: SampleValue; unit?: string; t?: number }
  | { kind: 'state'; key: string; value: Json; t?: number }
  | { kind: 'event'; name: string; data?: Json; t?: number };

export type RecordClass = EngineRecord['kind'];

/**
 * Why a range of sequence numbers carries no records: dropped or coalesced by the overflow policy, lost
 * by a restored aggregator store (`acknowledged-lost`), damaged or unsynced in a durable outbox, or
 * `renumbered`: numbers the aggregator already holds records under (an outbox restored from an older
 * copy numbers its next records after them).
 */
export type GapReason =
  | 'overflow'
  | 'coalesced'
  | 'acknowledged-lost'
  | 'corrupt'
  | 'unsynced'
  | 'renumbered';

/** A sample on the wire: `["s", tag, t, value, unit?]`. */
export type SampleItem = ['s', string, number, SampleValue] | ['s', string, number, SampleValue, string];
/** A thinned sample on the wire: `["f", tag, t, value, windowStart, windowEnd, samples, unit?]`. */
export type ThinnedSampleItem =
  | ['f', string, number, SampleValue, number, number, number]
  | ['f', string, number, SampleValue, number, number, number, string];
/** A state on the wire: `["st", key, t, value]`. */
export type StateItem = ['st', string, number, Json];
/** An event on the wire: `["e", name, t, data?]`. */
export type EventItem = ['e', string, number] | ['e', string, number, Json];
/** A gap on the wire: `["g", fromSeq, toSeq, count, reason]`. */
export type GapItem = ['g', number, number, number, GapReason];
/**
 * A record or gap as it travels and waits in the outbox: a compact JSON array, one sequence number each (a
 * gap: a range).
 */
export type Item = SampleItem | ThinnedSampleItem | StateItem | EventItem | GapItem;

/** Every reason a gap can give for sequence numbers that will never come. */
export const GAP_REASONS: readonly GapReason[] = [
  'overflow',
  'coalesced',
  'acknowledged-lost',
  'corrupt',
  'unsynced',
  'renumbered',
];

/**
 * A record `send()` refuses (a bad name, value, unit or nesting, or one too large for a frame); nothing was
 * stored.
 */
export class InvalidRecordError extends TypeError {
  override readonly name = 'InvalidRecordError';
}

/** Longest tag, state key or event name, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 256;

/** A lone (unpaired) surrogate: text that cannot be stored as UTF-8 without being altered. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Why a tag, state key or event name cannot be sent, or undefined when it can. The engine checks it in
 * `send()` and the aggregator in every frame, with this same function: a record the engine accepts is
 * never one the aggregator refuses (which would block the engine's stream behind it for ever).
 */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH)
    return `name, tag or key must be a non-empty string of at most ${MAX_NAME_LENGTH} characters`;
  if (LONE_SURROGATE.test(name)) return 'name, tag or key must be well-formed Unicode (no lone surrogate)';
  return undefined;
}

/**
 * The deepest nesting of arrays and objects a state value or event data may have. Deeper values cannot be
 * written back out safely (JSON.stringify recurses), so the engine refuses them in `send()` and the
 * aggregator in every frame, with the same check.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether `value` nests arrays and objects deeper than `maxDepth` (checked without recursion). */
export function nestedDeeperThan(value: unknown, maxDepth = MAX_JSON_DEPTH): boolean {
  if (value === null || typeof value !== 'object') return false;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > maxDepth) return true;
    const children = Array.isArray(node) ? node : Object.values(node as object);
    for (const child of children)
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

/** Why a state value or event data cannot be sent, or undefined when it can. */
export function valueProblem(value: unknown): string | undefined {
  return nestedDeeperThan(value)
    ? `value nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`
    : undefined;
}

/** Why a sample's unit cannot be sent, or undefined when it can. */
export function unitProblem(unit: unknown): string | undefined {
  if (typeof unit !== 'string') return 'sample unit must be a string';
  if (LONE_SURROGATE.test(unit)) return 'sample unit must be well-formed Unicode (no lone surrogate)';
  return undefined;
}

function checkName(name: unknown, what: string): void {
  const problem = nameProblem(name);
  if (problem) throw new InvalidRecordError(`${what}: ${problem}`);
}

/** Encodes one record as its item's JSON text, stamping `now` when the record has no time. */
export function encodeRecord(record: EngineRecord, now: number): string {
  const t = record.t ?? now;
  if (typeof t !== 'number' || !Number.isFinite(t))
    throw new InvalidRecordError('record time must be a finite number');
  switch (record.kind) {
    case 'sample': {
      checkName(record.tag, 'sample needs a tag');
      const v = record.value;
      if (
        typeof v === 'number'
          ? !Number.isFinite(v)
          : v !== null && typeof v !== 'string' && typeof v !== 'boolean'
      )
        throw new InvalidRecordError(
          `sample ${record.tag}: value must be a finite number, string, boolean or null`,
        );
      const badUnit = record.unit === undefined ? undefined : unitProblem(record.unit);
      if (badUnit) throw new InvalidRecordError(`sample ${record.tag}: ${badUnit}`);
      return record.unit === undefined
        ? JSON.stringify(['s', record.tag, t, v])
        : JSON.stringify(['s', record.tag, t, v, record.unit]);
    }
    case 'state': {
      checkName(record.key, 'state needs a key');
      const deep = valueProblem(record.value);
      if (deep) throw new InvalidRecordError(`state ${record.key}: ${deep}`);
      return JSON.stringify(['st', record.key, t, record.value ?? null]);
    }
    case 'event': {
      checkName(record.name, 'event needs a name');
      const deep = valueProblem(record.data);
      if (deep) throw new InvalidRecordError(`event ${record.name}: data ${deep}`);
      return record.data === undefined
        ? JSON.stringify(['e', record.name, t])
        : JSON.stringify(['e', record.name, t, record.data]);
    }
    default:
      throw new InvalidRecordError(
        `unknown record kind ${JSON.stringify((record as { kind?: unknown }).kind)}`,
      );
  }
}

export function encodeGap(fromSeq: number, toSeq: number, count: number, reason: GapReason): string {
  return JSON.stringify(['g', fromSeq, toSeq, count, reason]);
}

/**
 * A thinned window: the latest sample of `samples` samples of one tag taken in [windowStart, windowEnd).
 * `sample` must have its time set.
 */
export function encodeThinnedSample(
  sample: { tag: string; t: number; value: SampleValue; unit?: string },
  windowStart: number,
  windowEnd: number,
  samples: number,
): string {
  const { tag, t, value, unit } = sample;
  return unit === undefined
    ? JSON.stringify(['f', tag, t, value, windowStart, windowEnd, samples])
    : JSON.stringify(['f', tag, t, value, windowStart, windowEnd, samples, unit]);
}

/** The class of an encoded item, read from its first characters without parsing it. */
export function itemClass(encoded: string): RecordClass | 'gap' {
  // Every item starts with `["` and its kind: s, f, st, e or g.
  const c = encoded.charCodeAt(2);
  if (c === 115 /* s */) return encoded.charCodeAt(3) === 116 /* t */ ? 'state' : 'sample';
  if (c === 101 /* e */) return 'event';
  if (c === 102 /* f */) return 'sample';
  return 'gap';
}

/** The number of sequence numbers an item occupies. */
export function itemSpan(item: Item): number {
  return item[0] === 'g' ? item[2] - item[1] + 1 : 1;
}
