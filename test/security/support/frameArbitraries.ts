import fc from 'fast-check';
import { sealFrame } from '../../../src/protocol/codec.ts';
import type { Frame } from './frameModel.ts';

/**
 * fast-check generators of hostile engine behaviour: frames of every class the protocol knows (valid
 * ones too, so that the store has something to keep), built as intents and turned into frame text at
 * run time, when the sequence numbers they must continue (or skip) are known. Every frame carries its
 * checksum (`sealFrame`, as the codec adds it), so that what is tested behind the checksum check is
 * reached, except the frames built to have a missing or wrong one (`corrupt`, and random text that is
 * not a JSON object's text, which cannot carry one).
 */

const GAP_REASONS = ['overflow', 'coalesced', 'acknowledged-lost', 'corrupt', 'unsynced'] as const;
const ENGINE_MESSAGE_TYPES = new Set(['hello', 'records', 'commandResult', 'pong', 'bye']);

/** A valid item, or a gap to be placed at whatever sequence number it lands on. */
export type ItemSpec =
  | { gap: false; item: unknown[] }
  | { gap: true; span: number; countShare: number; reason: string };

/** An item that breaks the rules, placed among valid ones; `at(seq)` builds it for its sequence number. */
export interface BadItem {
  label: string;
  at: (seq: number) => unknown;
}

export type Intent =
  | { t: 'records'; overlap: number; specs: ItemSpec[] }
  | { t: 'skip'; ahead: number; specs: ItemSpec[] }
  | { t: 'tooMany'; extra: number }
  | { t: 'badItem'; specs: ItemSpec[]; index: number; bad: BadItem }
  | { t: 'badFrom'; from: unknown }
  | { t: 'numbers'; variant: number }
  | { t: 'hello'; variant: 'valid' | 'otherEngine' | 'version'; epoch: string; lastSeq: number }
  | { t: 'wrongType'; build: (engineId: string) => unknown }
  | { t: 'text'; text: string; class: 'malformed' | 'notObject' | 'unknownType' }
  | { t: 'oversize' }
  | { t: 'quiet'; message: unknown }
  | { t: 'bye' }
  /** A valid records frame whose checksum does not hold: see `CorruptionKind`. */
  | { t: 'corrupt'; kind: CorruptionKind; specs: ItemSpec[]; position: number; replacement: number };

/**
 * How a valid frame is spoilt: one character replaced by another (anywhere, checksum included), the
 * checksum left out, the checksum member first instead of last, or a checksum off by one.
 */
export type CorruptionKind = 'flip' | 'noCrc' | 'crcFirst' | 'wrongCrc';

export type TokenChoice = 'own' | 'otherEngines' | 'none' | 'garbage' | 'unlisted';

export type Action =
  | { a: 'connect'; engine: number; as: TokenChoice }
  | { a: 'send'; engine: number; intent: Intent }
  | { a: 'burst'; engine: number; intents: Intent[] }
  | { a: 'hangUp'; engine: number };

// Items

const name = fc.oneof(
  { weight: 6, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 256, maxLength: 256 }) },
);
const time = fc.oneof(
  fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -1, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 + 2),
);
const sampleValue = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.string({ maxLength: 20 }),
  fc.boolean(),
  fc.constant(null),
);
const jsonValue = fc.jsonValue({ maxDepth: 3 });
const unit = fc.string({ maxLength: 6 });
const runEvent = fc
  .tuple(
    fc.constantFrom('run.started', 'run.phase', 'run.completed', 'run.failed'),
    fc.constantFrom('r1', 'r2', 'r3'),
    fc.dictionary(fc.constantFrom('method', 'phase', 'reason'), jsonValue, { maxKeys: 2 }),
  )
  .map(([event, runId, extra]) => ({ event, data: { ...extra, runId } }));

const validItem: fc.Arbitrary<ItemSpec> = fc
  .oneof(
    { weight: 5, arbitrary: fc.tuple(name, time, sampleValue).map(([n, t, v]) => ['s', n, t, v]) },
    {
      weight: 2,
      arbitrary: fc.tuple(name, time, sampleValue, unit).map(([n, t, v, u]) => ['s', n, t, v, u]),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(name, time, sampleValue, fc.integer({ min: -1e12, max: 1e12 }), fc.nat(10_000))
        .chain(([n, t, v, start, width]) =>
          fc
            .tuple(fc.integer({ min: 1, max: 1000 }), fc.option(unit, { nil: undefined }))
            .map(([samples, u]) => {
              const end = start + width;
              return u === undefined
                ? ['f', n, t, v, start, end, samples]
                : ['f', n, t, v, start, end, samples, u];
            }),
        ),
    },
    { weight: 2, arbitrary: fc.tuple(name, time, jsonValue).map(([n, t, v]) => ['st', n, t, v]) },
    { weight: 1, arbitrary: fc.tuple(name, time).map(([n, t]) => ['e', n, t]) },
    { weight: 2, arbitrary: fc.tuple(name, time, jsonValue).map(([n, t, d]) => ['e', n, t, d]) },
    { weight: 2, arbitrary: fc.tuple(runEvent, time).map(([r, t]) => ['e', r.event, t, r.data]) },
  )
  .map((item): ItemSpec => ({ gap: false, item: item as unknown[] }));

const gapItem: fc.Arbitrary<ItemSpec> = fc
  .tuple(
    fc.integer({ min: 1, max: 50 }),
    fc.double({ min: 0, max: 1, noNaN: true }),
    fc.constantFrom(...GAP_REASONS),
  )
  .map(([span, countShare, reason]) => ({ gap: true, span, countShare, reason }));

const itemSpecs = (max: number) =>
  fc.array(fc.oneof({ weight: 12, arbitrary: validItem }, { weight: 1, arbitrary: gapItem }), {
    minLength: 1,
    maxLength: max,
  });

/** Items that every reading of the protocol refuses. */
export const BAD_ITEMS: BadItem[] = [
  { label: 'unknown kind', at: () => ['x', 'a', 1, 1] },
  { label: 'empty array', at: () => [] },
  { label: 'too short', at: () => ['s', 'a'] },
  { label: 'not an array', at: () => ({ kind: 's', tag: 'a' }) },
  { label: 'a string', at: () => 's,a,1,1' },
  { label: 'null', at: () => null },
  { label: 'empty name', at: () => ['s', '', 1, 1] },
  { label: 'name too long', at: () => ['e', 'n'.repeat(257), 1] },
  { label: 'name not a string', at: () => ['st', 42, 1, 1] },
  { label: 'lone surrogate in a name', at: () => ['s', 'temp\ud800', 1, 1] },
  { label: 'lone surrogate in a unit', at: () => ['s', 'temp', 1, 1, '\udc00C'] },
  { label: 'time a string', at: () => ['s', 'a', 'now', 1] },
  { label: 'time null (NaN on the wire)', at: () => ['e', 'a', null] },
  { label: 'sample value an object', at: () => ['s', 'a', 1, { v: 1 }] },
  { label: 'sample value an array', at: () => ['s', 'a', 1, [1]] },
  { label: 'sample without value', at: () => ['s', 'a', 1] },
  { label: 'sample unit a number', at: () => ['s', 'a', 1, 1, 5] },
  { label: 'sample with 6 elements', at: () => ['s', 'a', 1, 1, 'u', 'x'] },
  { label: 'state without value', at: () => ['st', 'a', 1] },
  { label: 'state with 5 elements', at: () => ['st', 'a', 1, 1, 2] },
  { label: 'event with 5 elements', at: () => ['e', 'a', 1, {}, 5] },
  { label: 'thinned window reversed', at: () => ['f', 'a', 1, 1, 5, 4, 2] },
  { label: 'thinned count 0', at: () => ['f', 'a', 1, 1, 1, 2, 0] },
  { label: 'thinned count fractional', at: () => ['f', 'a', 1, 1, 1, 2, 1.5] },
  { label: 'gap not at its sequence number', at: (seq) => ['g', seq + 1, seq + 2, 1, 'overflow'] },
  { label: 'gap ending before it starts', at: (seq) => ['g', seq, seq - 1, 0, 'overflow'] },
  { label: 'gap count above its span', at: (seq) => ['g', seq, seq, 2, 'overflow'] },
  { label: 'gap negative count', at: (seq) => ['g', seq, seq + 3, -1, 'overflow'] },
  { label: 'gap unknown reason', at: (seq) => ['g', seq, seq, 1, 'bogus'] },
  { label: 'gap with 4 elements', at: (seq) => ['g', seq, seq, 1] },
  { label: 'gap toSeq unsafe', at: (seq) => ['g', seq, 2 ** 53, 1, 'overflow'] },
];

const BAD_FROMS: unknown[] = [0, -1, -(2 ** 53), 1.5, 2 ** 53, 1e300, '1', null, true, [], {}, undefined];

/** Messages of a known type that break their schema. */
const WRONG_TYPES: Array<(engineId: string) => unknown> = [
  (e) => ({ type: 'hello', v: '1', engineId: e, epoch: 'ep-0', lastSeq: 0 }),
  (e) => ({ type: 'hello', v: 0, engineId: e, epoch: 'ep-0', lastSeq: 0 }),
  () => ({ type: 'hello', v: 1, engineId: 'no spaces allowed', epoch: 'ep-0', lastSeq: 0 }),
  (e) => ({ type: 'hello', v: 1, engineId: e, epoch: '', lastSeq: 0 }),
  (e) => ({ type: 'hello', v: 1, engineId: e, epoch: 'e'.repeat(65), lastSeq: 0 }),
  (e) => ({ type: 'hello', v: 1, engineId: e, epoch: 'ep-0', lastSeq: -1 }),
  (e) => ({ type: 'hello', v: 1, engineId: e, epoch: 'ep-0', lastSeq: 1.5 }),
  (e) => ({ type: 'hello', v: 1, engineId: e, epoch: 'ep-0', lastSeq: 2 ** 53 }),
  (e) => ({ type: 'hello', v: 1, engineId: e, epoch: 'ep-0' }),
  (e) => ({
    type: 'hello',
    v: 1,
    engineId: e,
    epoch: 'ep-0',
    lastSeq: 0,
    snapshot: { current: { runId: '' } },
  }),
  () => ({ type: 'records', from: 1, items: [] }),
  () => ({ type: 'records', from: 1, items: 'items' }),
  () => ({ type: 'records', from: 1 }),
  () => ({ type: 'records', items: [['e', 'a', 1]] }),
  () => ({ type: 'pong', t: 'now' }),
  () => ({ type: 'bye', reason: 5 }),
  () => ({ type: 'bye', reason: 'r'.repeat(1025) }),
  () => ({ type: 'commandResult', id: '', ok: true }),
  () => ({ type: 'commandResult', id: 'c1', ok: 'yes' }),
  () => ({ type: 'commandResult', id: 'c1', ok: false, error: { code: 1, message: 'm' } }),
];

/** Raw texts whose numbers JSON.parse turns into something the schema refuses: Infinity, unsafe. */
function numbersText(variant: number, from: number): { text: string; valid: boolean } {
  switch (variant % 6) {
    case 0:
      return { text: `{"type":"records","from":${from},"items":[["s","a",1e999,1]]}`, valid: false };
    case 1:
      return { text: `{"type":"records","from":${from},"items":[["s","a",1,-1e999]]}`, valid: false };
    case 2:
      return { text: `{"type":"records","from":1e999,"items":[["e","a",1]]}`, valid: false };
    case 3:
      return { text: `{"type":"records","from":9007199254740993,"items":[["e","a",1]]}`, valid: false };
    case 4:
      // Finite, if huge or beyond double precision: valid, stored as the double it parses to.
      return {
        text: `{"type":"records","from":${from},"items":[["s","big",1.7976931348623157e308,123456789012345678901234567890]]}`,
        valid: true,
      };
    default:
      return {
        text: `{"type":"records","from":${from},"items":[["st","tiny",5e-324,{"n":-1.7976931348623157e308}]]}`,
        valid: true,
      };
  }
}

/** Random text, classified by JSON.parse (the platform's parser, not the aggregator's code). */
const randomText: fc.Arbitrary<Intent> = fc
  .oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
    fc
      .tuple(fc.jsonValue({ maxDepth: 2 }), fc.nat(40))
      .map(([v, cut]) => JSON.stringify({ type: 'records', from: 1, items: [v] }).slice(0, cut)),
    fc.constantFrom('', ' ', '{', '{"type":"records","from":1,', 'null', '[]', '"hello"', '{}', '{"type":5}'),
    fc.constantFrom(
      '{"type":"Records"}',
      '{"type":"launch","target":"moon"}',
      '{"__proto__":{"type":"hello"}}',
    ),
    // Not JSON, yet a JSON object's outline, so that they can carry a valid checksum (malformed-frame).
    fc.constantFrom(
      '{"type":"records","from":1,}',
      '{"type":"hello" "v":1}',
      "{'type':'bye'}",
      '{"type":"records","from":1,"items":[["e","a",1],]}',
      '{"type":"pong","t":01}',
      '{"type":"bye","reason":"\\x"}',
      '{type:"bye"}',
    ),
    fc
      .tuple(fc.jsonValue({ maxDepth: 2 }), fc.nat(40))
      .map(([v, cut]) => `${JSON.stringify({ type: 'records', from: 1, items: [v] }).slice(0, cut)}}`),
  )
  .filter((text) => classifyText(text) !== undefined)
  .map((text) => ({ t: 'text', text, class: classifyText(text)! }));

function classifyText(text: string): 'malformed' | 'notObject' | 'unknownType' | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'malformed';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'notObject';
  const type = Object.hasOwn(value, 'type') ? (value as { type: unknown }).type : undefined;
  if (typeof type === 'string' && ENGINE_MESSAGE_TYPES.has(type)) return undefined;
  return 'unknownType';
}

// Intents and actions

const frameIntent = (maxRecordsPerFrame: number): fc.Arbitrary<Intent> =>
  fc.oneof(
    {
      weight: 12,
      arbitrary: fc.record({ t: fc.constant('records' as const), overlap: fc.nat(3), specs: itemSpecs(20) }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant('skip' as const),
        ahead: fc.integer({ min: 1, max: 1000 }),
        specs: itemSpecs(3),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('tooMany' as const),
        extra: fc.integer({ min: 1, max: maxRecordsPerFrame }),
      }),
    },
    {
      weight: 5,
      arbitrary: fc
        .tuple(itemSpecs(6), fc.nat(), fc.constantFrom(...BAD_ITEMS))
        .map(([specs, i, bad]) => ({ t: 'badItem' as const, specs, index: i % (specs.length + 1), bad })),
    },
    { weight: 2, arbitrary: fc.constantFrom(...BAD_FROMS).map((from) => ({ t: 'badFrom' as const, from })) },
    { weight: 2, arbitrary: fc.nat(5).map((variant) => ({ t: 'numbers' as const, variant })) },
    {
      weight: 4,
      arbitrary: fc.record({
        t: fc.constant('hello' as const),
        variant: fc.constantFrom('valid', 'valid', 'valid', 'otherEngine', 'version') as fc.Arbitrary<
          'valid' | 'otherEngine' | 'version'
        >,
        epoch: fc.constantFrom('ep-0', 'ep-1'),
        lastSeq: fc.nat(5000),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.constantFrom(...WRONG_TYPES).map((build) => ({ t: 'wrongType' as const, build })),
    },
    { weight: 4, arbitrary: randomText },
    { weight: 1, arbitrary: fc.constant({ t: 'oversize' as const }) },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom<unknown>(
          { type: 'pong' },
          { type: 'pong', t: 12 },
          { type: 'commandResult', id: 'nobody-waits', ok: true, result: { x: 1 } },
          { type: 'commandResult', id: 'nobody-waits', ok: false, error: { code: 'c', message: 'm' } },
        )
        .map((message) => ({ t: 'quiet' as const, message })),
    },
    { weight: 1, arbitrary: fc.constant({ t: 'bye' as const }) },
    {
      weight: 3,
      arbitrary: fc.record({
        t: fc.constant('corrupt' as const),
        kind: fc.constantFrom<CorruptionKind>('flip', 'flip', 'flip', 'noCrc', 'crcFirst', 'wrongCrc'),
        specs: itemSpecs(6),
        position: fc.nat(),
        replacement: fc.integer({ min: 0x20, max: 0x7e }),
      }),
    },
  );

export function actionsArbitrary(
  engines: number,
  options: { maxRecordsPerFrame: number; minActions: number; maxActions: number; maxBurst: number },
): fc.Arbitrary<Action[]> {
  const engine = fc.nat(engines - 1);
  const intent = frameIntent(options.maxRecordsPerFrame);
  const action: fc.Arbitrary<Action> = fc.oneof(
    {
      weight: 2,
      arbitrary: fc.record({
        a: fc.constant('connect' as const),
        engine,
        as: fc.constantFrom<TokenChoice>('own', 'own', 'own', 'otherEngines', 'none', 'garbage', 'unlisted'),
      }),
    },
    { weight: 14, arbitrary: fc.record({ a: fc.constant('send' as const), engine, intent }) },
    {
      weight: 2,
      arbitrary: fc.record({
        a: fc.constant('burst' as const),
        engine,
        intents: fc.array(intent, { minLength: 2, maxLength: options.maxBurst, size: 'max' }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ a: fc.constant('hangUp' as const), engine }) },
  );
  return fc.array(action, { minLength: options.minActions, maxLength: options.maxActions, size: 'max' });
}

/** Everything a frame's text depends on at the moment it is sent. */
export interface FrameContext {
  engineId: string;
  otherEngineId: string;
  /** The high-water mark of the stream the link's hello opened (0 before hello). */
  mark: number;
  maxRecordsPerFrame: number;
  maxFrameBytes: number;
}

function items(specs: ItemSpec[], from: number): unknown[] {
  let seq = from;
  return specs.map((spec) => {
    if (!spec.gap) {
      seq++;
      return spec.item;
    }
    const toSeq = seq + spec.span - 1;
    const item = ['g', seq, toSeq, Math.round(spec.countShare * spec.span), spec.reason];
    seq = toSeq + 1;
    return item;
  });
}

/** A frame as the codec sends it: the JSON text of `message`, sealed with its checksum. */
const sealed = (message: unknown) => sealFrame(JSON.stringify(message));

const records = (from: number, list: unknown[]) => sealed({ type: 'records', from, items: list });

/** A valid frame (`records`' text, with its checksum) made to fail its checksum. */
function corrupt(intent: Extract<Intent, { t: 'corrupt' }>, from: number): string {
  const body = JSON.stringify({ type: 'records', from, items: items(intent.specs, from) });
  const text = sealFrame(body);
  switch (intent.kind) {
    case 'noCrc':
      return body;
    case 'crcFirst':
      return `{"crc":${text.slice(text.lastIndexOf(':') + 1, -1)},${body.slice(1)}`;
    case 'wrongCrc': {
      const crc = Number(text.slice(text.lastIndexOf(':') + 1, -1));
      return `${body.slice(0, -1)},"crc":${(crc + 1) % 2 ** 32}}`;
    }
    case 'flip': {
      // One ASCII character (the frame's punctuation, numbers, names, checksum) made another ASCII one:
      // the frame stays valid UTF-8 and the same length, as one corrupted byte on the wire leaves it.
      const ascii: number[] = [];
      for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x80) ascii.push(i);
      const at = ascii[intent.position % ascii.length]!;
      const original = text.charCodeAt(at);
      const replacement =
        intent.replacement === original ? (original === 0x7e ? 0x20 : original + 1) : intent.replacement;
      return `${text.slice(0, at)}${String.fromCharCode(replacement)}${text.slice(at + 1)}`;
    }
  }
}

/** The frame an intent stands for, now. */
export function buildFrame(intent: Intent, ctx: FrameContext): Frame {
  const next = ctx.mark + 1;
  switch (intent.t) {
    case 'records': {
      const from = Math.max(1, next - intent.overlap);
      return { class: 'records', text: records(from, items(intent.specs, from)) };
    }
    case 'skip': {
      const from = next + intent.ahead;
      return { class: 'records', text: records(from, items(intent.specs, from)) };
    }
    case 'tooMany': {
      const n = ctx.maxRecordsPerFrame + intent.extra;
      return {
        class: 'records',
        text: records(
          next,
          Array.from({ length: n }, (_, i) => ['s', 'flood', i, i]),
        ),
      };
    }
    case 'badItem': {
      const list = items(intent.specs, next);
      // The bad item takes the sequence number of the item it precedes.
      let seq = next;
      for (let i = 0; i < intent.index; i++) {
        const it = list[i] as unknown[];
        seq = it[0] === 'g' ? (it[2] as number) + 1 : seq + 1;
      }
      list.splice(intent.index, 0, intent.bad.at(seq));
      return { class: 'invalid', text: records(next, list) };
    }
    case 'badFrom':
      return {
        class: 'invalid',
        text: sealed({ type: 'records', from: intent.from, items: [['e', 'a', 1]] }),
      };
    case 'numbers': {
      const { text, valid } = numbersText(intent.variant, next);
      return { class: valid ? 'records' : 'invalid', text: sealFrame(text) };
    }
    case 'hello': {
      const v = intent.variant === 'version' ? 2 : 1;
      const engineId = intent.variant === 'otherEngine' ? ctx.otherEngineId : ctx.engineId;
      const text = sealed({
        type: 'hello',
        v,
        engineId,
        epoch: intent.epoch,
        lastSeq: intent.lastSeq,
      });
      return { class: 'hello', text, v, engineId, epoch: intent.epoch };
    }
    case 'wrongType':
      return { class: 'invalid', text: sealed(intent.build(ctx.engineId)) };
    case 'text':
      // Only a JSON object's outline ({...}) can carry the checksum (a valid one makes every frame that
      // parses an object): anything else goes as it is and is refused for its missing checksum.
      return intent.text.startsWith('{') && intent.text.endsWith('}')
        ? { class: intent.class, text: sealFrame(intent.text) }
        : { class: 'badChecksum', text: intent.text };
    case 'oversize': {
      const list: unknown[] = [];
      let text = records(next, list);
      while (Buffer.byteLength(text) <= ctx.maxFrameBytes) {
        for (let i = 0; i < 500; i++) list.push(['s', 'big', list.length, list.length]);
        text = records(next, list);
      }
      return { class: 'oversize', text };
    }
    case 'quiet':
      return { class: 'quiet', text: sealed(intent.message) };
    case 'bye':
      return { class: 'bye', text: sealed({ type: 'bye', reason: 'fuzz' }) };
    case 'corrupt':
      return { class: 'badChecksum', text: corrupt(intent, next) };
  }
}
