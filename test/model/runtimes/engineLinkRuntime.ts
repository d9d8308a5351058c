import { expect } from 'vitest';
import { type EngineLinkEvent, engineLinkMachine } from '../../../machines/engineLink.ts';
import {
  AuthRejectedError,
  ResilientDispatcher,
  type ResilientDispatcherOptions,
} from '../../../src/engine/resilientDispatcher.ts';
import type { Hello, RunSnapshot } from '../../../src/protocol/messages.ts';
import { SeededRandom } from '../../../src/soak/seededRandom.ts';
import { SimulatedClock, settle } from '../../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../../src/transport/memoryTransport.ts';
import type { Acceptor, AggregatorTransport, AuthDecision, Connector } from '../../../src/transport/sides.ts';
import type { RuntimeHarness } from '../support/modelSuite.ts';
import type { RuntimeRecorder } from '../support/runtimeRecorder.ts';

/**
 * The engine's link (machines/engineLink.ts) run by the real ResilientDispatcher over the in-memory
 * network, against an aggregator whose every answer the test writes, on a simulated clock and a seeded
 * random. Every event is caused as in production: a connect released or refused, a welcome frame, an
 * acknowledgement, silence, time passing.
 */
export const CONNECT_TIMEOUT_MS = 5000;
export const HEARTBEAT_TIMEOUT_MS = 3000;
/** A rejected engine tries again this long after the refusal. */
const REJECTED_RETRY_MS = 60_000;
/** How often the aggregator pings: with pings, time passes without the link falling silent. */
const PING_MS = 1000;
/** The heartbeat period the welcome announces: the engine then waits twice that (above its own timeout). */
const WELCOME_HEARTBEAT_MS = 2000;
/** The silence after which a welcomed link is dead: max(heartbeatTimeoutMs, 2 × the welcome's period). */
const SILENCE_MS = Math.max(HEARTBEAT_TIMEOUT_MS, 2 * WELCOME_HEARTBEAT_MS);
/** The backoff promised by the README: 500 ms doubling to 10 s, full jitter above the floor. */
const RETRY = { initialMs: 500, maxMs: 10_000 };
const SNAPSHOT: RunSnapshot = { current: { runId: 'r-1', phase: 'running', startedAt: 7 }, last: null };

/** One link as the aggregator saw it. */
interface AggregatorLink {
  readonly transport: AggregatorTransport;
  hello: Hello | undefined;
  /** The ackSeq of the welcome sent on it (undefined: not welcomed). */
  welcomedAt: number | undefined;
  /** Highest sequence number received in records frames. */
  received: number;
  /** Records frames received before welcome (must stay 0). */
  framesBeforeWelcome: number;
  /** Records frames that did not follow on from the one before (must stay 0). */
  framesOutOfOrder: number;
  /** When the aggregator last sent anything on it (simulated time). */
  lastSentAt: number;
  /** The times of the pings sent on it, and of the pongs that came back. */
  readonly pings: number[];
  readonly pongs: number[];
  /** Every records frame received: where it starts and its items. */
  readonly frames: Array<{ from: number; items: unknown[] }>;
  /** The engine's goodbye, and how it closed the link (when it did). */
  bye: string | undefined;
  closed: { code: number; reason: string } | undefined;
}

/** An aggregator whose every answer the test writes by hand. */
export class ScriptedAggregator implements Acceptor {
  decision: AuthDecision = { ok: true };
  readonly links: AggregatorLink[] = [];
  /** Highest sequence number acknowledged (welcome or ack) on any link. */
  highestAck = 0;

  constructor(private readonly clock: SimulatedClock) {}

  get current(): AggregatorLink | undefined {
    const link = this.links.at(-1);
    return link?.transport.state === 'open' ? link : undefined;
  }

  authorize(): AuthDecision {
    const decision = this.decision;
    this.decision = { ok: true };
    return decision;
  }

  accept(transport: AggregatorTransport): void {
    const link: AggregatorLink = {
      transport,
      hello: undefined,
      welcomedAt: undefined,
      received: 0,
      framesBeforeWelcome: 0,
      framesOutOfOrder: 0,
      lastSentAt: this.clock.now(),
      pings: [],
      pongs: [],
      frames: [],
      bye: undefined,
      closed: undefined,
    };
    transport.on('close', ({ code, reason }) => {
      link.closed = { code, reason };
    });
    this.links.push(link);
    const send = transport.send.bind(transport);
    transport.send = (message) => {
      link.lastSentAt = this.clock.now();
      return send(message);
    };
    transport.on('message', (message) => {
      if (message.type === 'hello') link.hello = message;
      if (message.type === 'pong') link.pongs.push(message.t ?? -1);
      if (message.type === 'bye') link.bye = message.reason;
      if (message.type !== 'records') return;
      link.frames.push({ from: message.from, items: message.items });
      if (link.welcomedAt === undefined) link.framesBeforeWelcome++;
      else if (message.from !== Math.max(link.received, link.welcomedAt) + 1) link.framesOutOfOrder++;
      link.received = message.from + message.items.length - 1;
    });
  }

  welcome(link: AggregatorLink, ackSeq: number): void {
    link.welcomedAt = ackSeq;
    this.highestAck = Math.max(this.highestAck, ackSeq);
    link.transport.send({ type: 'welcome', v: 1, ackSeq, heartbeatMs: WELCOME_HEARTBEAT_MS });
  }

  ack(link: AggregatorLink, seq: number): void {
    this.highestAck = Math.max(this.highestAck, seq);
    link.transport.send({ type: 'ack', seq });
  }
}

export interface LinkRuntime {
  readonly clock: SimulatedClock;
  readonly network: MemoryNetwork;
  readonly aggregator: ScriptedAggregator;
  readonly engine: ResilientDispatcher;
  /** Random numbers the engine drew, in order. */
  readonly draws: number[];
  readonly retries: Array<{ attempt: number; delayMs: number; reason: string }>;
  readonly errors: Error[];
  readonly flushProgress: Array<{ sent: number; total: number }>;
  /** Connection attempts the engine made. */
  readonly connects: number;
  /** Records handed to send(). */
  produced: number;
  /** Failed attempts since the link was last up (or since reconnect() after a rejection). */
  failedSinceUp: number;
  /** Why the link last went down, as the next retry must say. */
  why: string;
  /** The wait the aggregator asked for when it last refused or closed the link (until the next retry). */
  asked: number | undefined;
  /** The engine's last sequence number when the current link was welcomed. */
  heldAtWelcome: number;
  /** When the current connection attempt began (its connect timeout runs from here). */
  attemptStartedAt: number;
  /** The refusal (status and message) that rejected the engine last, and when. */
  rejection: string;
  rejectedAt: number;
  /** Connection attempts when the engine was rejected. */
  connectsAtRejection: number;
  /** Counts before the last step, for its effects. */
  before: { connects: number; retries: number; draws: number; links: number; errors: number; state: string };
}

/** A dispatcher against a scripted aggregator (`overrides`: options beyond the model's). */
export function startLink(
  recorder: RuntimeRecorder,
  overrides: Partial<ResilientDispatcherOptions> = {},
): Promise<LinkRuntime> {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  const aggregator = new ScriptedAggregator(clock);
  network.listen(aggregator);
  network.holdConnects();
  const seeded = new SeededRandom(13);
  const draws: number[] = [];
  let connects = 0;
  const connector: Connector = {
    connect: (request) => {
      connects++;
      return network.connect(request);
    },
  };
  const engine = new ResilientDispatcher({
    engineId: 'model-1',
    connector,
    clock,
    random: () => {
      const value = seeded.next();
      draws.push(value);
      return value;
    },
    retry: RETRY,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    rejectedRetryMs: REJECTED_RETRY_MS,
    snapshot: () => SNAPSHOT,
    inspect: recorder.inspect,
    ...overrides,
  });
  const rt: LinkRuntime = {
    clock,
    network,
    aggregator,
    engine,
    draws,
    retries: [],
    errors: [],
    flushProgress: [],
    get connects() {
      return connects;
    },
    produced: 0,
    failedSinceUp: 0,
    why: '',
    asked: undefined,
    heldAtWelcome: 0,
    attemptStartedAt: clock.now(),
    connectsAtRejection: 0,
    rejection: '',
    rejectedAt: 0,
    before: { connects: 0, retries: 0, draws: 0, links: 0, errors: 0, state: '' },
  };
  engine.on('retry', (retry) => rt.retries.push(retry));
  engine.on('error', (error) => rt.errors.push(error));
  engine.on('flushProgress', (progress) => rt.flushProgress.push(progress));
  engine.on('state', (state) => {
    if (state === 'connected' || state === 'flushing') rt.failedSinceUp = 0;
    if (state === 'connecting.opening' || state === 'buffering.reconnecting.opening')
      rt.attemptStartedAt = clock.now();
    if (state === 'rejected') {
      rt.connectsAtRejection = rt.connects;
      rt.rejectedAt = clock.now();
    }
  });
  return settle().then(() => rt);
}

const isAttempt = (state: string) => state.endsWith('opening') || state.endsWith('greeting');
const isUp = (state: string) => state === 'connected' || state === 'flushing';

/** Time passes with the aggregator pinging on any open link, so that only the engine's own timers can fire. */
async function pass(rt: LinkRuntime, ms: number, pinging: boolean): Promise<void> {
  for (let left = ms; left > 0; left -= PING_MS) {
    await rt.clock.advance(Math.min(PING_MS, left));
    const link = rt.aggregator.current;
    if (pinging && link) {
      link.pings.push(rt.clock.now());
      link.transport.send({ type: 'ping', t: rt.clock.now() });
    }
    await settle();
  }
}

/** Whether `ms` can pass without a timer of the machine falling due (connect timeout, retry). */
function canWait(rt: LinkRuntime, ms: number): boolean {
  const state = rt.engine.state;
  if (state === 'buffering.waiting') return false;
  if (state === 'rejected') return rt.rejectedAt + REJECTED_RETRY_MS > rt.clock.now() + ms;
  if (isAttempt(state)) return rt.attemptStartedAt + CONNECT_TIMEOUT_MS > rt.clock.now() + ms;
  return true;
}

function release(rt: LinkRuntime, decision: AuthDecision): void {
  rt.aggregator.decision = decision;
  expect(rt.network.releaseConnects()).toBe(1);
}

async function cause(rt: LinkRuntime, event: EngineLinkEvent): Promise<boolean> {
  const { engine, aggregator } = rt;
  const state = engine.state;
  const link = aggregator.current;
  rt.before = {
    connects: rt.connects,
    retries: rt.retries.length,
    draws: rt.draws.length,
    links: aggregator.links.length,
    errors: rt.errors.length,
    state,
  };
  switch (event.type) {
    case 'SOCKET_OPENED':
      if (!state.endsWith('opening')) return false;
      release(rt, { ok: true });
      break;
    case 'REJECTED': {
      if (!state.endsWith('opening')) return false;
      // "401 invalid token": the aggregator refuses the upgrade with that status and message.
      const [status, ...words] = event.message.split(' ');
      release(rt, { ok: false, status: Number(status), message: words.join(' ') });
      rt.rejection = event.message;
      break;
    }
    case 'SOCKET_CLOSED':
      if (state.endsWith('opening')) {
        release(rt, { ok: false, status: 503, message: 'busy', retryAfterMs: event.retryAfterMs });
        rt.why = 'refused (503): busy';
      } else if (link) {
        rt.why = 'closed (1013 busy)';
        if (event.retryAfterMs !== undefined)
          link.transport.send({
            type: 'error',
            code: 'busy',
            message: 'later',
            retryAfterMs: event.retryAfterMs,
          });
        link.transport.close(1013, 'busy');
      } else return false;
      rt.asked = event.retryAfterMs;
      break;
    case 'CONNECT_TIMEOUT':
      if (isAttempt(state)) await rt.clock.advance(rt.attemptStartedAt + CONNECT_TIMEOUT_MS - rt.clock.now());
      else if (canWait(rt, CONNECT_TIMEOUT_MS)) await pass(rt, CONNECT_TIMEOUT_MS, true);
      else return false;
      rt.asked = undefined;
      rt.why = `no answer within ${CONNECT_TIMEOUT_MS} ms`;
      break;
    case 'HEARTBEAT_MISSED':
      // Silence: the aggregator sends nothing for the heartbeat timeout.
      if (!isUp(state) && !canWait(rt, SILENCE_MS)) return false;
      // Not a moment before the silence is long enough.
      await pass(rt, SILENCE_MS - PING_MS, false);
      if (isUp(state)) expect(engine.state).toBe(state);
      await pass(rt, PING_MS, false);
      rt.why = `nothing heard for ${SILENCE_MS} ms (dead or half-open link)`;
      rt.asked = undefined;
      break;
    case 'RETRY_DUE': {
      if (state === 'rejected') {
        // The slow retry of a rejected engine (told in its error, not as a `retry` event).
        await rt.clock.advance(rt.rejectedAt + REJECTED_RETRY_MS - 1 - rt.clock.now());
        expect(engine.state).toBe('rejected');
        await rt.clock.advance(1);
        rt.failedSinceUp = 0;
      } else if (state === 'buffering.waiting') {
        const delay = rt.retries.at(-1)!.delayMs;
        // Not a millisecond early.
        await rt.clock.advance(delay - 1);
        expect(engine.state).toBe('buffering.waiting');
        await rt.clock.advance(1);
      } else if (canWait(rt, RETRY.maxMs)) await pass(rt, RETRY.maxMs, true);
      else return false;
      break;
    }
    case 'WELCOME': {
      if (!state.endsWith('greeting') || !link) return false;
      while (engine.stats.lastSeq - engine.stats.acked < event.backlog) {
        engine.send({ kind: 'sample', tag: 'T', value: engine.stats.lastSeq });
        rt.produced++;
      }
      rt.heldAtWelcome = engine.stats.lastSeq;
      aggregator.welcome(link, engine.stats.lastSeq - event.backlog);
      break;
    }
    case 'BACKLOG_DRAINED':
      // The aggregator acknowledges what it received (and stored) on this link.
      if (!isUp(state) || !link) return false;
      await settle();
      aggregator.ack(link, Math.max(link.received, link.welcomedAt ?? 0));
      break;
    case 'RECONNECT':
      if (state === 'rejected') rt.failedSinceUp = 0;
      engine.reconnect();
      break;
    case 'STOP':
      await engine.close();
      break;
  }
  await settle();
  return true;
}

/** The retry delay the README promises for `attempt` failed attempts, given the random draw. */
function promisedDelay(attempt: number, draw: number, asked: number | undefined): number {
  const ceiling = Math.min(RETRY.maxMs, RETRY.initialMs * 2 ** (attempt + 1));
  const delay = Math.round(RETRY.initialMs + draw * (ceiling - RETRY.initialMs));
  return Math.max(delay, asked ?? 0);
}

function checkStep(
  rt: LinkRuntime,
  step: { event: EngineLinkEvent; expected: string; transitions: readonly string[] },
): void {
  const { engine, aggregator, before } = rt;
  const state = step.expected;
  const moved = step.transitions.length > 0;
  const link = aggregator.current;
  // A new connection attempt opens exactly one connect, and only on entering `opening`.
  expect(rt.connects - before.connects, 'connects').toBe(moved && state.endsWith('opening') ? 1 : 0);
  if (moved && state.endsWith('greeting')) {
    expect(aggregator.links.length).toBe(before.links + 1);
    expect(link?.hello).toEqual({
      type: 'hello',
      v: 1,
      engineId: 'model-1',
      epoch: engine.stats.epoch,
      lastSeq: engine.stats.lastSeq,
      firstSeq: engine.stats.acked + 1,
      snapshot: SNAPSHOT,
    });
  }
  if (moved && state === 'buffering.waiting') {
    // One retry, one draw, the promised delay for this attempt, never shorter than the wait asked for.
    expect(rt.retries.length).toBe(before.retries + 1);
    expect(rt.draws.length).toBe(before.draws + 1);
    const retry = rt.retries.at(-1)!;
    expect(retry.attempt).toBe(rt.failedSinceUp + 1);
    expect(retry.delayMs).toBe(promisedDelay(rt.failedSinceUp, rt.draws.at(-1)!, rt.asked));
    if (rt.asked !== undefined) expect(retry.delayMs).toBeGreaterThanOrEqual(rt.asked);
    expect(retry.reason).toBe(rt.why);
    rt.failedSinceUp++;
    rt.asked = undefined;
  } else {
    expect(rt.retries.length, 'retries').toBe(before.retries);
  }
  if (moved && state === 'flushing') {
    expect(rt.flushProgress.at(-1)).toEqual({ sent: 0, total: engine.stats.backlog });
    expect(link!.received).toBe(engine.stats.lastSeq);
  }
  if (moved && state === 'rejected') {
    expect(rt.errors.length).toBe(before.errors + 1);
    const error = rt.errors.at(-1) as AuthRejectedError;
    expect(error).toBeInstanceOf(AuthRejectedError);
    expect(`${error.status} ${error.detail}`).toBe(rt.rejection);
    expect(error.message).toContain(`aggregator refused engine model-1: ${rt.rejection}. Records are kept`);
    expect(error.retryInMs).toBe(REJECTED_RETRY_MS);
  }
  const linked = isUp(state) || state.endsWith('greeting');
  expect(rt.network.openLinks, 'open links').toBe(linked ? 1 : 0);
  // How a link the engine gives up on ends: silence or no welcome in time drops it (4000 abandoned); stop
  // says goodbye and closes it normally.
  const previous = aggregator.links[before.links - 1];
  if (moved && !linked && previous?.transport.state === 'open')
    expect.fail('a link the engine left is still open');
  if (moved && state === 'stopped' && previous?.bye !== undefined) {
    expect(previous.bye).toBe('engine stopping');
    expect(previous.closed).toEqual({ code: 1000, reason: 'engine stopping' });
  }
  const event = step.event.type;
  const abandoned =
    (event === 'HEARTBEAT_MISSED' && isUp(before.state)) ||
    (event === 'CONNECT_TIMEOUT' && before.state.endsWith('greeting'));
  if (moved && abandoned) expect(previous?.closed).toEqual({ code: 4000, reason: 'abandoned' });
  // The end of a flush is told as all of it sent.
  if (moved && event === 'BACKLOG_DRAINED') {
    const last = rt.flushProgress.at(-1)!;
    expect(last.sent).toBe(last.total);
  }
}

/** The promises of the engine's link, from the README and the design: checked after every step. */
function invariants(rt: LinkRuntime): void {
  const { engine, aggregator, network } = rt;
  const state = engine.state;
  const stats = engine.stats;
  // At most one link to the aggregator, ever.
  expect(network.openLinks).toBeLessThanOrEqual(1);
  expect(aggregator.links.filter((l) => l.transport.state === 'open').length).toBeLessThanOrEqual(1);
  // Nothing produced is lost; nothing is forgotten before the aggregator acknowledged it.
  expect(stats.lastSeq).toBe(rt.produced);
  expect(stats.acked).toBeLessThanOrEqual(aggregator.highestAck);
  // Records leave the outbox only on a welcomed link, in order.
  for (const link of aggregator.links) {
    expect(link.framesBeforeWelcome).toBe(0);
    expect(link.framesOutOfOrder).toBe(0);
  }
  // Connected means the backlog held at welcome is acknowledged; flushing means it is not yet.
  if (state === 'connected') expect(stats.acked).toBeGreaterThanOrEqual(rt.heldAtWelcome);
  if (state === 'flushing') expect(stats.acked).toBeLessThan(rt.heldAtWelcome);
  // A link silent for the heartbeat timeout is dead or half-open: it is not kept up.
  const link = aggregator.current;
  if (isUp(state))
    expect(rt.clock.now() - link!.lastSentAt, 'silence on a link kept up').toBeLessThan(SILENCE_MS);
  // Every ping is answered.
  for (const l of aggregator.links) if (l === link) expect(l.pongs).toEqual(l.pings);
  // Waiting and refused: no link and no connect under way; a rejected engine retries only slowly.
  if (state === 'buffering.waiting' || state === 'rejected' || state === 'stopped') {
    expect(network.openLinks).toBe(0);
    expect(engine.stats.backlog).toBeGreaterThanOrEqual(0);
  }
  if (state === 'rejected') expect(rt.connects).toBe(rt.connectsAtRejection);
}

const noConnect = 'no connect is under way: a transport opens, or is refused, once';
const noLink = 'no link: nothing arrives from the aggregator';
const welcomedOnce = 'the aggregator welcomes once per link';
const noRecordsYet = 'nothing is sent before welcome, so there is nothing to acknowledge';
const retryFirst = 'time cannot pass here without the retry timer firing first';
const timeoutFirst = 'time cannot pass here without the connect timeout firing first';

function attemptStates(prefix: string): Record<string, string> {
  return {
    [`${prefix}.opening ⊘ WELCOME`]: noLink,
    [`${prefix}.opening ⊘ BACKLOG_DRAINED`]: noLink,
    [`${prefix}.opening ⊘ RETRY_DUE`]: timeoutFirst,
    [`${prefix}.greeting ⊘ SOCKET_OPENED`]: noConnect,
    [`${prefix}.greeting ⊘ REJECTED`]: noConnect,
    [`${prefix}.greeting ⊘ BACKLOG_DRAINED`]: noRecordsYet,
    [`${prefix}.greeting ⊘ RETRY_DUE`]: timeoutFirst,
  };
}

function unlinkedState(state: string): Record<string, string> {
  return Object.fromEntries(
    ['SOCKET_OPENED', 'REJECTED', 'SOCKET_CLOSED', 'WELCOME', 'BACKLOG_DRAINED'].map((type) => [
      `${state} ⊘ ${type}`,
      type === 'WELCOME' || type === 'BACKLOG_DRAINED' ? noLink : noConnect,
    ]),
  );
}

export const engineLinkHarness: RuntimeHarness<LinkRuntime, EngineLinkEvent> = {
  machine: engineLinkMachine,
  options: { inherited: 'perState' },
  start: (recorder) => startLink(recorder),
  state: (rt) => rt.engine.state,
  cause,
  checkStep,
  invariants,
  visible: (rt) => ({
    state: rt.engine.state,
    openLinks: rt.network.openLinks,
    connects: rt.connects,
    links: rt.aggregator.links.length,
    hellos: rt.aggregator.links.filter((l) => l.hello).length,
    retries: rt.retries.length,
    errors: rt.errors.length,
    lastSeq: rt.engine.stats.lastSeq,
    acked: rt.engine.stats.acked,
  }),
  uncausable: {
    ...attemptStates('connecting'),
    ...attemptStates('buffering.reconnecting'),
    ...unlinkedState('buffering.waiting'),
    'buffering.waiting ⊘ CONNECT_TIMEOUT': retryFirst,
    'buffering.waiting ⊘ HEARTBEAT_MISSED': retryFirst,
    'flushing ⊘ SOCKET_OPENED': noConnect,
    'flushing ⊘ REJECTED': noConnect,
    'flushing ⊘ WELCOME': welcomedOnce,
    'connected ⊘ SOCKET_OPENED': noConnect,
    'connected ⊘ REJECTED': noConnect,
    'connected ⊘ WELCOME': welcomedOnce,
    ...unlinkedState('rejected'),
    ...unlinkedState('stopped'),
  },
  stop: async (rt) => {
    await rt.engine.close();
  },
};
