// The engine-link aggregator (SQLite file in a temp folder) in its own process, driven over IPC (see
// `serve` in support.ts). Reports each engine's link as the aggregator shows it (`up`: available or
// catching up, `down`: unavailable), answers counts, and measures its own CPU and the ingest latency
// (engine time stamp → committed to SQLite) between `window-start` and `window-stop`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { AGGREGATOR_DEFAULTS } from '../../src/aggregator/aggregatorDefaults.ts';
import { startAggregatorServer } from '../../src/aggregator/server.ts';
import { AsyncSqliteStore } from '../../src/aggregator/store/asyncSqliteStore.ts';
import type { AsyncStore } from '../../src/aggregator/store/asyncStore.ts';
import { PostgresStore } from '../../src/aggregator/store/postgres/postgresStore.ts';
import type { IngestResult } from '../../src/aggregator/store/recordStore.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import type { Item } from '../../src/protocol/records.ts';
import { CpuWindow, LatencyWindow, serve, wallNow } from '../support.ts';

const dir = mkdtempSync(join(tmpdir(), 'engine-link-bench-'));
// BENCH_POSTGRES_URL: a PostgreSQL database of its own instead of a SQLite file; BENCH_FLEET_NODE: this
// aggregator is that node of a fleet on it (leases at their defaults).
const postgresUrl = process.env.BENCH_POSTGRES_URL;
const fleetNode = process.env.BENCH_FLEET_NODE;
const inner: AsyncStore = postgresUrl
  ? await PostgresStore.open(
      postgresUrl,
      fleetNode ? { fleet: { nodeId: fleetNode, leaseMs: AGGREGATOR_DEFAULTS.fleet.leaseMs } } : {},
    )
  : new AsyncSqliteStore(new SqliteStore(join(dir, 'bench.db')));
const latency = new LatencyWindow();
const cpu = new CpuWindow('linkAggregator');
let timing = false;

// The store as the aggregator sees it, timing each commit against the engine's own time stamps: the
// samples a transaction stored are timed when the outermost transaction (a group commit) has committed.
let stamps: number[] = [];
let depth = 0;
async function ingest(
  engineId: string,
  epoch: string,
  from: number,
  items: readonly Item[],
): Promise<IngestResult> {
  const result = await inner.ingest(engineId, epoch, from, items);
  if (timing) for (const item of items) if (item[0] === 's') stamps.push(item[2]);
  if (depth === 0) committed();
  return result;
}
async function transaction<T>(work: () => Promise<T>): Promise<T> {
  depth++;
  try {
    return await inner.transaction(work);
  } catch (error) {
    if (depth === 1) stamps = [];
    throw error;
  } finally {
    depth--;
    if (depth === 0) committed();
  }
}
function committed(): void {
  if (stamps.length === 0) return;
  const now = wallNow();
  for (const stamp of stamps) latency.add(now - stamp);
  stamps = [];
}
const store = new Proxy(inner, {
  get(target, property) {
    if (property === 'ingest') return ingest;
    if (property === 'transaction') return transaction;
    const value = Reflect.get(target, property, target);
    return typeof value === 'function' ? value.bind(target) : value;
  },
}) as AsyncStore;

const aggregator = new Aggregator({ store });
await aggregator.ready;
// The group commits of the window: how many, how many units (frames, hellos) each, how long each took.
let groups: Array<{ units: number; durationMs: number }> = [];
aggregator.on('commit', (group) => {
  if (timing) groups.push(group);
});
const server = await startAggregatorServer({ aggregator, port: 0 });
const up = new Set<string>();
const { report } = serve({ port: server.port }, async (request) => {
  switch (request.op) {
    case 'count': {
      const view = aggregator.engine(String(request.id));
      return { persisted: view?.persistedCount ?? 0, duplicates: view?.duplicatesIgnored ?? 0 };
    }
    case 'engines':
      return { up: up.size };
    case 'window-start':
      await cpu.restart();
      timing = true;
      groups = [];
      latency.start();
      return {};
    case 'window-stop': {
      timing = false;
      const window = latency.stop();
      const frames = groups.reduce((sum, group) => sum + group.units, 0);
      return {
        ...(await cpu.read({ frames, records: window.records })),
        ...window,
        commits: groupSummary(groups),
      };
    }
    default:
      throw new Error(`unknown request ${JSON.stringify(request)}`);
  }
});
aggregator.on('engineState', ({ engineId, link }) => {
  if (link === 'available' || link === 'catching-up') {
    if (!up.has(engineId)) report('up', { id: engineId, link });
    up.add(engineId);
  } else if (link === 'unavailable' || link === 'offline') {
    if (up.delete(engineId)) report('down', { id: engineId, link });
  }
});
function groupSummary(all: Array<{ units: number; durationMs: number }>) {
  const ms = all.map((g) => g.durationMs).sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? 0;
  return {
    groups: all.length,
    unitsPerGroup: all.length ? all.reduce((sum, g) => sum + g.units, 0) / all.length : 0,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
  };
}
process.once('SIGTERM', async () => {
  await server.close();
  await aggregator.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
