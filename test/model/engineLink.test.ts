import { describe, expect, it } from 'vitest';
import { type EngineLinkEvent, engineLinkMachine } from '../../machines/engineLink.ts';
import { AuthRejectedError, ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import type { Hello } from '../../src/protocol/messages.ts';
import { SimulatedClock, settle } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import type { Acceptor, AggregatorTransport, AuthDecision } from '../../src/transport/sides.ts';
import {
  coverageOf,
  engineLinkModelEvents,
  formatCoverage,
  transitionCoveringPaths,
} from './support/index.ts';

/**
 * Model-based test of the engine's link: paths generated from machines/engineLink.ts that together take
 * every transition, each driven through the real ResilientDispatcher over the in-memory network, with a
 * scripted aggregator and a simulated clock. Every event is caused the way production causes it (a
 * released connect, a refused upgrade, a welcome frame, silence, time passing), never sent to the
 * machine directly; after every step the dispatcher's state and its visible effects are checked.
 */
const CONNECT_TIMEOUT_MS = 5000;
const HEARTBEAT_TIMEOUT_MS = 3000;
const REJECTED_RETRY_MS = 60_000;
const options = { inherited: 'perState' } as const;
const paths = transitionCoveringPaths(engineLinkMachine, engineLinkModelEvents, options);

/** An aggregator whose every answer the test writes by hand. */
class ScriptedAggregator implements Acceptor {
  decision: AuthDecision = { ok: true };
  transport: AggregatorTransport | undefined;
  readonly hellos: Hello[] = [];

  authorize(): AuthDecision {
    const decision = this.decision;
    this.decision = { ok: true };
    return decision;
  }

  accept(transport: AggregatorTransport): void {
    this.transport = transport;
    transport.on('message', (message) => {
      if (message.type === 'hello') this.hellos.push(message);
    });
  }
}

function start() {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  const aggregator = new ScriptedAggregator();
  network.listen(aggregator);
  network.holdConnects();
  const engine = new ResilientDispatcher({
    engineId: 'model-1',
    connector: network,
    clock,
    random: () => 0,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    rejectedRetryMs: REJECTED_RETRY_MS,
  });
  const seen = { retryDelays: [] as number[], errors: [] as Error[] };
  engine.on('retry', ({ delayMs }) => seen.retryDelays.push(delayMs));
  engine.on('error', (error) => seen.errors.push(error));
  return { clock, network, aggregator, engine, seen };
}

type Runtime = ReturnType<typeof start>;

function releaseOne(rt: Runtime, decision: AuthDecision): void {
  rt.aggregator.decision = decision;
  expect(rt.network.releaseConnects()).toBe(1);
}

/** Makes the real runtime experience `event`. */
async function drive(rt: Runtime, event: EngineLinkEvent): Promise<void> {
  const { engine, aggregator, clock } = rt;
  const opening = engine.state.endsWith('opening');
  switch (event.type) {
    case 'SOCKET_OPENED':
      releaseOne(rt, { ok: true });
      break;
    case 'REJECTED': {
      // "401 invalid token": the aggregator refuses the upgrade with that status and message.
      const [status, ...words] = event.message.split(' ');
      releaseOne(rt, { ok: false, status: Number(status), message: words.join(' ') });
      break;
    }
    case 'SOCKET_CLOSED':
      if (opening) {
        releaseOne(rt, { ok: false, status: 503, message: 'busy', retryAfterMs: event.retryAfterMs });
      } else {
        if (event.retryAfterMs !== undefined)
          aggregator.transport!.send({
            type: 'error',
            code: 'busy',
            message: 'later',
            retryAfterMs: event.retryAfterMs,
          });
        aggregator.transport!.close(1013, 'busy');
      }
      break;
    case 'CONNECT_TIMEOUT':
      await clock.advance(CONNECT_TIMEOUT_MS);
      break;
    case 'WELCOME': {
      while (engine.stats.lastSeq - engine.stats.acked < event.backlog)
        engine.send({ kind: 'sample', tag: 'T', value: engine.stats.lastSeq });
      const ackSeq = engine.stats.lastSeq - event.backlog;
      aggregator.transport!.send({ type: 'welcome', v: 1, ackSeq, heartbeatMs: 1000 });
      break;
    }
    case 'BACKLOG_DRAINED':
      aggregator.transport!.send({ type: 'ack', seq: engine.stats.lastSeq });
      break;
    case 'HEARTBEAT_MISSED':
      await clock.advance(HEARTBEAT_TIMEOUT_MS);
      break;
    case 'RETRY_DUE':
      // A rejected engine retries slowly, and tells no `retry` event (its error said when).
      await clock.advance(engine.state === 'rejected' ? REJECTED_RETRY_MS : rt.seen.retryDelays.at(-1)!);
      break;
    case 'RECONNECT':
      engine.reconnect();
      break;
    case 'STOP':
      await engine.close();
      break;
  }
  await settle();
}

/** What must be visible from outside in each state, beyond the state's name. */
function checkEffects(rt: Runtime, event: EngineLinkEvent, helloCount: number): void {
  const state = rt.engine.state;
  if (state.endsWith('greeting')) {
    expect(rt.aggregator.hellos.length).toBe(helloCount + 1);
    expect(rt.aggregator.hellos.at(-1)).toMatchObject({
      engineId: 'model-1',
      lastSeq: rt.engine.stats.lastSeq,
    });
  }
  if (state === 'buffering.waiting') {
    const delay = rt.seen.retryDelays.at(-1);
    const asked = event.type === 'SOCKET_CLOSED' ? event.retryAfterMs : undefined;
    expect(delay).toBe(asked ?? 500);
  }
  if (state === 'rejected') {
    const error = rt.seen.errors.at(-1) as AuthRejectedError;
    expect(error).toBeInstanceOf(AuthRejectedError);
    expect(event.type === 'REJECTED' && event.message).toBe(`${error.status} ${error.detail}`);
    expect(error.retryInMs).toBe(REJECTED_RETRY_MS);
  }
  const linked = state === 'connected' || state === 'flushing' || state.endsWith('greeting');
  const unlinked = state === 'stopped' || state === 'rejected' || state === 'buffering.waiting';
  if (linked) expect(rt.network.openLinks).toBe(1);
  if (unlinked) expect(rt.network.openLinks).toBe(0);
}

describe('engineLink model', () => {
  it('the generated paths take every transition of the machine', () => {
    const report = coverageOf(engineLinkMachine, paths, options);
    expect(report.uncovered, formatCoverage(report)).toEqual([]);
    expect(report.ratio).toBe(1);
  });

  for (const path of paths) {
    it(path.name, async () => {
      const rt = start();
      await settle();
      expect(rt.engine.state).toBe(path.initial);
      for (const step of path.steps) {
        const hellos = rt.aggregator.hellos.length;
        await drive(rt, step.event);
        expect(rt.engine.state, `after ${step.event.type}`).toBe(step.expected);
        checkEffects(rt, step.event, hellos);
      }
      await rt.engine.close();
    });
  }
});
