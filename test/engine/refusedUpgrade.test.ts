import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { startAggregatorServer } from '../../src/aggregator/server.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { AuthRejectedError, ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { nextEvent } from '../support/until.ts';

/**
 * An upgrade the aggregator refuses for a reason a quick retry cannot change surfaces as a rejection
 * (slow retries, records kept), over a real WebSocket: a bad token (401), and an engine id it does not
 * take (400) or that is no link at all (404).
 */
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('a refused upgrade', () => {
  for (const [engineId, status] of [
    ['bad id!', 400],
    ['', 404],
  ] as const) {
    it(`${status} (engine id ${JSON.stringify(engineId)}) is a rejection, not a reason to retry at once`, async () => {
      const aggregator = new Aggregator({ store: new SqliteStore(':memory:') });
      const server = await startAggregatorServer({ aggregator, port: 0 });
      const engine = new ResilientDispatcher({
        engineId,
        connector: new WebSocketConnector(server.wsUrl),
        retry: { initialMs: 10, maxMs: 20 },
      });
      cleanups.push(async () => {
        await engine.close();
        await server.close();
        await aggregator.close();
      });
      engine.send({ kind: 'sample', tag: 'T', value: 1 });
      // Before: retried every few milliseconds for ever. Now: rejected at the first refusal.
      const outcome = await Promise.race([
        nextEvent<Error>(engine, 'error', (e) => e instanceof AuthRejectedError),
        nextEvent(engine, 'retry', (r: { attempt: number }) => r.attempt >= 3),
      ]);
      expect(outcome).toBeInstanceOf(AuthRejectedError);
      expect(outcome).toMatchObject({ status, retryInMs: 60_000 });
      expect(engine.state).toBe('rejected');
      expect(engine.stats.backlog).toBe(1);
    });
  }
});
