import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';

/**
 * An aggregator on an in-memory store, listening on an in-memory network, on a simulated clock. Its
 * close is pushed onto `cleanups`.
 */
export function memoryWorld(cleanups: Array<() => Promise<void> | void>) {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  const store = new SqliteStore(':memory:');
  const aggregator = new Aggregator({ store, clock });
  network.listen(aggregator);
  cleanups.push(() => aggregator.close());
  return { clock, network, store, aggregator };
}
