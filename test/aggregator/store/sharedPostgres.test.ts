import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../../src/aggregator/aggregator.ts';
import { PostgresStore } from '../../../src/aggregator/store/postgres/postgresStore.ts';
import { ResilientDispatcher } from '../../../src/engine/resilientDispatcher.ts';
import { waitFor } from '../../../src/faults/waitFor.ts';
import { auditStore } from '../../../src/soak/storeAudit.ts';
import { FailoverConnector } from '../../../src/transport/failoverConnector.ts';
import { MemoryNetwork } from '../../../src/transport/memoryTransport.ts';
import { freshDatabase } from '../../support/postgres.ts';
import { seededRandom } from '../../support/seededRandom.ts';

/**
 * Two aggregators on one PostgreSQL database, an engine moving between them (FailoverConnector over
 * in-memory networks): a node that had the engine before and gets it back after the other node stored
 * its records must take it from where the database stands, not from the high-water mark it remembers.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('two aggregators on one PostgreSQL database', () => {
  it('an engine that goes back to a node after writing on the other delivers there; every record stored once', async () => {
    const db = await freshDatabase('shared');
    const nodes: Array<{ url: string; network: MemoryNetwork; aggregator: Aggregator }> = [];
    for (const url of ['x', 'y']) {
      const network = new MemoryNetwork();
      const aggregator = new Aggregator({ store: await PostgresStore.open(db) });
      network.listen(aggregator);
      cleanups.push(() => aggregator.close());
      nodes.push({ url, network, aggregator });
    }
    const connector = new FailoverConnector(
      nodes.map(({ url, network }) => ({ url, connector: network })),
      { random: seededRandom(2) },
    );
    const node = (url: string) => nodes.find((n) => n.url === url)!;
    const [first, second] = [node(connector.urls[0]!), node(connector.urls[1]!)];
    const engine = new ResilientDispatcher({
      engineId: 'mover',
      connector,
      retry: { initialMs: 10, maxMs: 20 },
    });
    cleanups.push(() => engine.close());
    const deliver = async (on: typeof first, upTo: number) => {
      while (engine.stats.lastSeq < upTo)
        engine.send({ kind: 'sample', tag: 'T', value: 1, t: 1_000_000 + engine.stats.lastSeq });
      await waitFor(`${upTo} acknowledged on ${on.url}`, () => engine.stats.acked === upTo, {
        timeoutMs: 10_000,
      });
      expect(engine.stats.aggregator).toBe(on.url);
    };
    const kill = (n: typeof first) => {
      n.network.refuseConnects();
      n.network.closeAll('node down');
    };

    await deliver(first, 20);
    kill(first);
    await deliver(second, 40);
    kill(second);
    first.network.refuseConnects(false);
    // Before: the first node still took the mark to be 20; every frame failed the compare-and-set.
    await deliver(first, 60);

    const audit = await auditStore(db, 'mover', engine.stats.epoch, 60);
    expect(audit).toMatchObject({ persisted: 60, missing: 0, duplicates: 0, extra: 0, outOfOrder: 0 });
  });
});
