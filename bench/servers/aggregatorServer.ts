// A real aggregator in its own process (a SQLite file in a temp folder, or the PostgreSQL database
// BENCH_POSTGRES_URL names); prints {"port":N} when ready.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { startAggregatorServer } from '../../src/aggregator/server.ts';
import { PostgresStore } from '../../src/aggregator/store/postgres/postgresStore.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';

const postgresUrl = process.env.BENCH_POSTGRES_URL;
const store = postgresUrl
  ? await PostgresStore.open(postgresUrl)
  : new SqliteStore(join(mkdtempSync(join(tmpdir(), 'engine-link-bench-')), 'bench.db'));
const aggregator = new Aggregator({ store });
await aggregator.ready;
const server = await startAggregatorServer({ aggregator, port: 0 });
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
process.once('SIGTERM', async () => {
  await server.close();
  await aggregator.close();
  process.exit(0);
});
