import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { engineTokens, hashToken } from '../../src/aggregator/auth/tokens.ts';
import { startAggregatorServer } from '../../src/aggregator/server.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import type { Connector } from '../../src/transport/sides.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { HandEngine, samples } from '../aggregator/support.ts';
import { type Action, actionsArbitrary, buildFrame, type Intent } from './support/frameArbitraries.ts';
import { AggregatorModel, type ModelLink } from './support/frameModel.ts';

/**
 * Thousands of generated frames, valid and hostile, against a real aggregator with per-engine tokens:
 * malformed JSON, wrong types, huge numbers, negative and skipped sequence numbers, hellos for another
 * engine, connects with another engine's token, floods (bursts sent without waiting), frames with too
 * many records, oversize frames, frames corrupted on the way or sent without their checksum. After
 * every action the aggregator's answers on every link are exactly the model's (its error code, or a close
 * with the protocol's close code); at the end the store holds exactly what the valid frames should have
 * stored, and the aggregator still serves a new engine.
 *
 * Seeded (fixed seed, fixed number of runs), bounded in time per run. Waits are for answers, never
 * for time: the aggregator's clock is simulated and never advanced, so no heartbeat interferes.
 */

const ENGINES = ['fz-a', 'fz-b', 'fz-c'] as const;
const TOKENS: Record<string, string> = { 'fz-a': 'token-a', 'fz-b': 'token-b', 'fz-c': 'token-c' };
const MAX_FRAME_BYTES = 16 * 1024;
const MAX_RECORDS_PER_FRAME = 50;
const SEED = 20_261_128;

interface Harness {
  aggregator: Aggregator;
  store: SqliteStore;
  connector: Connector;
  close(): Promise<void>;
}

function makeAggregator(): { aggregator: Aggregator; store: SqliteStore; clock: SimulatedClock } {
  const clock = new SimulatedClock();
  const store = new SqliteStore(':memory:');
  const aggregator = new Aggregator({
    store,
    clock,
    // One token given hashed, as a token file may hold it.
    tokens: engineTokens({
      'fz-a': TOKENS['fz-a']!,
      'fz-b': hashToken(TOKENS['fz-b']!),
      'fz-c': TOKENS['fz-c']!,
    }),
    maxFrameBytes: MAX_FRAME_BYTES,
    maxRecordsPerFrame: MAX_RECORDS_PER_FRAME,
  });
  return { aggregator, store, clock };
}

async function memoryHarness(): Promise<Harness> {
  const { aggregator, store, clock } = makeAggregator();
  const network = new MemoryNetwork({ clock, maxFrameBytes: MAX_FRAME_BYTES });
  network.listen(aggregator);
  return { aggregator, store, connector: network, close: () => aggregator.close() };
}

async function webSocketHarness(): Promise<Harness> {
  const { aggregator, store } = makeAggregator();
  const server = await startAggregatorServer({ aggregator, port: 0 });
  return {
    aggregator,
    store,
    // The engine side may send frames larger than the aggregator accepts (that is the point).
    connector: new WebSocketConnector(server.wsUrl, { maxFrameBytes: 4 * MAX_FRAME_BYTES }),
    close: async () => {
      await server.close();
      await aggregator.close();
    },
  };
}

interface LiveLink {
  engine: number;
  model: ModelLink;
  hand: HandEngine;
  hungUp: boolean;
}

/** The aggregator's answers on a link, in the model's notation. */
function answers(link: LiveLink): string[] {
  const out: string[] = [];
  for (const m of link.hand.received) {
    if (m.type === 'ping') continue;
    if (m.type === 'welcome') out.push(`welcome:${m.ackSeq}`);
    else if (m.type === 'ack') out.push(`ack:${m.seq}`);
    else if (m.type === 'error') out.push(`error:${m.code}`);
    else out.push(m.type);
  }
  return out;
}

function expectedAnswers(link: LiveLink): string[] {
  return collapseAcks(link.model.expected.answers);
}

/** Whether the answers so far have come as far as expected (a run of acks: up to its last). */
function answeredAsExpected(got: readonly string[], want: readonly string[]): boolean {
  return got.length > want.length || (got.length === want.length && got.at(-1) === want.at(-1));
}

/**
 * Answers with each run of acknowledgements cut to its last: acknowledgements are cumulative, and the
 * ones a link is given in one group commit go out as one, so the engine hears a run's last (always: it
 * goes out before any other answer) and maybe some before it.
 */
function collapseAcks(all: readonly string[]): string[] {
  return all.filter((answer, i) => !(answer.startsWith('ack:') && all[i + 1]?.startsWith('ack:')));
}

const totals = { runs: 0, frames: 0, refusedConnects: 0, links: 0, stored: 0 };
/** Frames sent, by the class they were built to be. */
const classes = new Map<string, number>();
const classCounts = () => new Map(classes);

async function runScenario(h: Harness, actions: Action[]): Promise<void> {
  const model = new AggregatorModel(MAX_RECORDS_PER_FRAME);
  const current = new Map<number, LiveLink>();
  const links: LiveLink[] = [];

  const settle = async (link: LiveLink) => {
    const expected = () => expectedAnswers(link);
    await link.hand.until(
      `${link.model.engineId}: ${JSON.stringify(link.model.expected)}`,
      () =>
        answeredAsExpected(collapseAcks(answers(link)), expected()) &&
        (link.model.expected.close === undefined || link.hand.closeInfo !== undefined),
    );
    expect(collapseAcks(answers(link))).toEqual(expected());
    if (link.model.expected.close !== undefined)
      expect(link.hand.closeInfo?.code, `close code of ${link.model.engineId}`).toBe(
        link.model.expected.close,
      );
    else if (!link.hungUp) expect(link.hand.closeInfo).toBeUndefined();
  };

  const connect = async (engine: number, as: Extract<Action, { a: 'connect' }>['as']) => {
    const engineId = as === 'unlisted' ? 'fz-unlisted' : ENGINES[engine]!;
    const token =
      as === 'own'
        ? TOKENS[engineId]
        : as === 'otherEngines'
          ? TOKENS[ENGINES[(engine + 1) % ENGINES.length]!]
          : as === 'garbage'
            ? 'Bearer-ish garbage \u00ff'.repeat(3)
            : as === 'unlisted'
              ? 'token-a'
              : undefined;
    const hand = new HandEngine(h.connector.connect({ engineId, token }));
    await hand.until('open or refused', () => hand.opened || hand.closeInfo !== undefined);
    if (as !== 'own') {
      // Another engine's token, none, garbage, or an engine not in the token file: refused at the upgrade.
      expect(hand.opened).toBe(false);
      expect(hand.closeInfo?.refused?.status).toBe(401);
      totals.refusedConnects++;
      return undefined;
    }
    expect(hand.opened).toBe(true);
    const previous = current.get(engine);
    const link: LiveLink = { engine, model: model.accepted(engineId), hand, hungUp: false };
    links.push(link);
    current.set(engine, link);
    totals.links++;
    if (previous) await settle(previous);
    return link;
  };

  /** The engine's open link; a new one (which says hello, so that frames get somewhere) when it has none. */
  const linkFor = async (engine: number): Promise<LiveLink> => {
    const link = current.get(engine);
    if (link?.model.open) return link;
    const fresh = (await connect(engine, 'own'))!;
    send(fresh, { t: 'hello', variant: 'valid', epoch: `ep-${links.length % 2}`, lastSeq: 0 });
    return fresh;
  };

  const send = (link: LiveLink, intent: Intent) => {
    const engineId = ENGINES[link.engine]!;
    const frame = buildFrame(intent, {
      engineId,
      otherEngineId: ENGINES[(link.engine + 1) % ENGINES.length]!,
      mark: link.model.epoch === undefined ? 0 : model.mark(engineId, link.model.epoch),
      maxRecordsPerFrame: MAX_RECORDS_PER_FRAME,
      maxFrameBytes: MAX_FRAME_BYTES,
    });
    const wasOpen = link.model.open;
    const sent = link.hand.sendRaw(frame.text);
    if (wasOpen) expect(sent, 'a link the aggregator keeps open is open at the engine').toBe(true);
    model.receive(link.model, frame);
    totals.frames++;
    classes.set(frame.class, (classes.get(frame.class) ?? 0) + 1);
  };

  for (const action of actions) {
    switch (action.a) {
      case 'connect':
        await connect(action.engine, action.as);
        break;
      case 'send': {
        const link = await linkFor(action.engine);
        send(link, action.intent);
        await settle(link);
        break;
      }
      case 'burst': {
        // A flood: every frame sent before any answer is awaited.
        const link = await linkFor(action.engine);
        for (const intent of action.intents) send(link, intent);
        await settle(link);
        break;
      }
      case 'hangUp': {
        const link = current.get(action.engine);
        if (!link?.model.open) break;
        link.hand.transport.close(1000, 'engine hangs up');
        link.hungUp = true;
        model.hungUp(link.model);
        break;
      }
    }
  }
  for (const link of links) await settle(link);

  // The store holds exactly what the valid frames carried, once each, and nothing else.
  for (const stream of model.allStreams()) {
    expect(h.store.records(stream.engineId, { epoch: stream.epoch })).toEqual(stream.records);
    totals.stored += stream.records.length;
  }
  for (const engineId of [...ENGINES, 'fz-unlisted'])
    expect(h.store.gaps(engineId)).toEqual(model.gaps(engineId));
  expect(h.store.engineSummaries().map((s) => s.engineId)).toEqual(model.engineIds());
  for (const engineId of model.engineIds())
    expect(h.aggregator.engine(engineId)).toMatchObject(model.view(engineId));
  expect(h.aggregator.engine('fz-unlisted')).toBeUndefined();
  // Run events with odd data did not break the run ledger.
  await expect(h.aggregator.listRuns()).resolves.toBeDefined();

  // And it still serves: a new epoch of an engine connects, says hello and persists.
  const probe = new HandEngine(h.connector.connect({ engineId: 'fz-a', token: TOKENS['fz-a'] }));
  await probe.opening();
  probe.hello('fz-a', 'ep-probe', 3);
  expect((await probe.nth('welcome', 1)).ackSeq).toBe(0);
  probe.records(1, samples(3));
  expect((await probe.nth('ack', 1)).seq).toBe(3);
  totals.runs++;
}

function property(
  makeHarness: () => Promise<Harness>,
  size: { minActions: number; maxActions: number; maxBurst: number },
) {
  return fc.asyncProperty(
    actionsArbitrary(ENGINES.length, { maxRecordsPerFrame: MAX_RECORDS_PER_FRAME, ...size }),
    async (actions) => {
      const h = await makeHarness();
      try {
        await runScenario(h, actions);
      } finally {
        await h.close();
      }
    },
  );
}

describe('hostile frames (fast-check, seeded)', () => {
  it('over the in-memory network: thousands of frames, each answered as the model says, the store exactly the valid records', async () => {
    // Bounds on the volume actually exercised, so that a generator gone quiet fails loudly.
    const before = { ...totals };
    const classesBefore = classCounts();
    await fc.assert(property(memoryHarness, { minActions: 40, maxActions: 100, maxBurst: 40 }), {
      seed: SEED,
      numRuns: 60,
      timeout: 20_000,
    });
    expect(totals.runs - before.runs).toBe(60);
    // With this seed: about 12 000 frames, 1 100 links, 240 refused connects, 7 400 records stored.
    expect(totals.frames - before.frames).toBeGreaterThan(10_000);
    expect(totals.refusedConnects - before.refusedConnects).toBeGreaterThan(100);
    expect(totals.stored - before.stored).toBeGreaterThan(5000);
    const sent = (c: string) => (classes.get(c) ?? 0) - (classesBefore.get(c) ?? 0);
    // Every class of frame is exercised, those refused for their checksum (corrupted, or not an object)
    // as well as those behind a valid checksum (with this seed: 1 500 bad-checksum, 270 malformed).
    expect(sent('badChecksum')).toBeGreaterThan(500);
    for (const c of ['malformed', 'unknownType', 'invalid', 'oversize', 'hello', 'quiet', 'bye'])
      expect(sent(c), c).toBeGreaterThan(100);
  }, 240_000);

  it('over real WebSockets: the same, on a smaller run', async () => {
    const before = { ...totals };
    await fc.assert(property(webSocketHarness, { minActions: 30, maxActions: 60, maxBurst: 20 }), {
      seed: SEED + 1,
      numRuns: 25,
      timeout: 20_000,
    });
    expect(totals.runs - before.runs).toBe(25);
    expect(totals.frames - before.frames).toBeGreaterThan(1000);
    expect(totals.refusedConnects - before.refusedConnects).toBeGreaterThan(10);
    expect(totals.stored - before.stored).toBeGreaterThan(500);
  }, 240_000);
});
