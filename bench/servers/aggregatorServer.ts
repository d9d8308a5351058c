// A real aggregator (SQLite file in a temp folder) in its own process; prints {"port":N} when ready.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { startAggregatorServer } from '../../src/aggregator/server.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';

const dir = mkdtempSync(join(tmpdir(), 'engine-link-bench-'));
const aggregator = new Aggregator({ store: new SqliteStore(join(dir, 'bench.db')) });
const server = await startAggregatorServer({ aggregator, port: 0 });
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
process.once('SIGTERM', async () => {
  await server.close();
  await aggregator.close();
  process.exit(0);
});
