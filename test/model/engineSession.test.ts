import { describe, expect, it } from 'vitest';
import { type EngineSessionEvent, engineSessionMachine } from '../../machines/engineSession.ts';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { encodeRecordsFrame } from '../../src/protocol/codec.ts';
import type { AggregatorMessage } from '../../src/protocol/messages.ts';
import { SimulatedClock, settle } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import type { EngineTransport } from '../../src/transport/sides.ts';
import {
  coverageOf,
  engineSessionModelEvents,
  formatCoverage,
  transitionCoveringPaths,
} from './support/index.ts';

/**
 * Model-based test of the aggregator's view of an engine: paths generated from machines/engineSession.ts
 * that together take every transition, each driven through the real Aggregator (sessions, SQLite store,
 * heartbeats) over the in-memory network by a hand-driven engine. Events are caused as in production:
 * hello frames, records that the store commits, a black-holed link going silent, a goodbye.
 */
const ENGINE = 'model-e';
const EPOCH = 'epoch-1';
const paths = transitionCoveringPaths(engineSessionMachine, engineSessionModelEvents);

const linkToState = {
  offline: 'offline',
  'catching-up': 'catchingUp',
  available: 'available',
  unavailable: 'unavailable',
};

function start() {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  const aggregator = new Aggregator({ store: new SqliteStore(':memory:'), clock });
  network.listen(aggregator);
  const rt = {
    clock,
    network,
    aggregator,
    transport: undefined as EngineTransport | undefined,
    received: [] as AggregatorMessage[],
    /** The engine's newest sequence number (what it would say in hello). */
    lastSeq: 0,
    state: () => linkToState[aggregator.engine(ENGINE)?.link ?? 'offline'],
    persisted: () => aggregator.engine(ENGINE)?.persistedSeq ?? 0,
  };
  return rt;
}

type Runtime = ReturnType<typeof start>;

function sendRecords(rt: Runtime, upTo: number): void {
  const from = rt.persisted() + 1;
  const items = [];
  for (let seq = from; seq <= upTo; seq++) items.push(`["s","T",${seq},${seq}]`);
  rt.transport!.sendText(encodeRecordsFrame(from, items.join(',')));
}

async function drive(rt: Runtime, event: EngineSessionEvent): Promise<void> {
  switch (event.type) {
    case 'HELLO': {
      const transport = rt.network.connect({ engineId: ENGINE });
      transport.on('message', (message) => {
        rt.received.push(message);
        if (message.type === 'ping') transport.send({ type: 'pong', t: message.t });
      });
      rt.transport = transport;
      await settle();
      expect(transport.state).toBe('open');
      rt.lastSeq = rt.persisted() + (event.lastSeq - event.persistedSeq);
      transport.send({ type: 'hello', v: 1, engineId: ENGINE, epoch: EPOCH, lastSeq: rt.lastSeq });
      break;
    }
    case 'PERSISTED': {
      const target = rt.aggregator.engine(ENGINE)!.targetSeq;
      if (rt.state() === 'catchingUp' && event.seq < 10) {
        // Part of the backlog: one record, short of the target.
        expect(rt.persisted() + 1).toBeLessThan(target);
        sendRecords(rt, rt.persisted() + 1);
      } else {
        // The rest of the backlog, or (when caught up) one live record.
        rt.lastSeq = Math.max(rt.lastSeq, rt.persisted() + 1);
        sendRecords(rt, rt.lastSeq);
      }
      break;
    }
    case 'LINK_LOST':
      // Half-open: nobody is told; the aggregator must notice the silence by itself.
      rt.network.blackhole();
      await rt.clock.advance(rt.aggregator.heartbeatTimeoutMs);
      rt.network.restore();
      break;
    case 'GOODBYE':
      rt.transport!.send({ type: 'bye', reason: 'done' });
      break;
  }
  await settle();
}

function checkEffects(rt: Runtime, event: EngineSessionEvent): void {
  const view = rt.aggregator.engine(ENGINE);
  const last = rt.received.at(-1);
  if (event.type === 'HELLO') {
    expect(rt.received.find((m) => m.type === 'welcome')).toBeDefined();
    expect(last).toMatchObject({ type: 'welcome', ackSeq: rt.persisted() });
    expect(view?.targetSeq).toBe(rt.lastSeq);
  }
  if (event.type === 'PERSISTED') expect(last).toEqual({ type: 'ack', seq: rt.persisted() });
  if (event.type === 'LINK_LOST') expect(rt.transport!.state).toBe('open'); // the engine was never told
  if (event.type === 'GOODBYE') expect(rt.transport!.state).toBe('closed');
  // Records persisted exactly once, in order, whatever happened.
  const rows = rt.aggregator.store.records(ENGINE, { epoch: EPOCH });
  expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: rt.persisted() }, (_, i) => i + 1));
}

describe('engineSession model', () => {
  it('the generated paths take every transition of the machine', () => {
    const report = coverageOf(engineSessionMachine, paths);
    expect(report.uncovered, formatCoverage(report)).toEqual([]);
    expect(report.ratio).toBe(1);
  });

  for (const path of paths) {
    it(path.name, async () => {
      const rt = start();
      expect(rt.state()).toBe(path.initial);
      for (const step of path.steps) {
        await drive(rt, step.event);
        expect(rt.state(), `after ${step.event.type}`).toBe(step.expected);
        checkEffects(rt, step.event);
      }
      await rt.aggregator.close();
    });
  }
});
