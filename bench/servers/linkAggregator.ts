// The engine-link aggregator (SQLite file in a temp folder) in its own process, driven over IPC (see
// `serve` in support.ts). Reports each engine's link as the aggregator shows it (`up`: available or
// catching up, `down`: unavailable), answers counts, and measures its own CPU and the ingest latency
// (engine time stamp → committed to SQLite) between `window-start` and `window-stop`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { startAggregatorServer } from '../../src/aggregator/server.ts';
import type { IngestResult } from '../../src/aggregator/store/recordStore.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import type { Store } from '../../src/aggregator/store/store.ts';
import type { Item } from '../../src/protocol/records.ts';
import { CpuWindow, LatencyWindow, serve, wallNow } from '../support.ts';

const dir = mkdtempSync(join(tmpdir(), 'engine-link-bench-'));
const sqlite = new SqliteStore(join(dir, 'bench.db'));
const latency = new LatencyWindow();
const cpu = new CpuWindow();
let timing = false;

// The store as the aggregator sees it, timing each commit against the engine's own time stamps: the
// samples a transaction stored are timed when the outermost transaction (a group commit) returns.
let stamps: number[] = [];
let depth = 0;
function ingest(engineId: string, epoch: string, from: number, items: readonly Item[]): IngestResult {
  const result = sqlite.ingest(engineId, epoch, from, items);
  if (timing) for (const item of items) if (item[0] === 's') stamps.push(item[2]);
  if (depth === 0) committed();
  return result;
}
function transaction<T>(work: () => T): T {
  depth++;
  let result: T;
  try {
    result = sqlite.transaction(work);
  } catch (error) {
    if (depth === 1) stamps = [];
    throw error;
  } finally {
    depth--;
  }
  if (depth === 0) committed();
  return result;
}
function committed(): void {
  if (stamps.length === 0) return;
  const now = wallNow();
  for (const stamp of stamps) latency.add(now - stamp);
  stamps = [];
}
const store = new Proxy(sqlite, {
  get(target, property) {
    if (property === 'ingest') return ingest;
    if (property === 'transaction') return transaction;
    const value = Reflect.get(target, property, target);
    return typeof value === 'function' ? value.bind(target) : value;
  },
}) as Store;

const aggregator = new Aggregator({ store });
const server = await startAggregatorServer({ aggregator, port: 0 });
const up = new Set<string>();
const { report } = serve({ port: server.port }, (request) => {
  switch (request.op) {
    case 'count': {
      const view = aggregator.engine(String(request.id));
      return { persisted: view?.persistedCount ?? 0, duplicates: view?.duplicatesIgnored ?? 0 };
    }
    case 'engines':
      return { up: up.size };
    case 'window-start':
      timing = true;
      latency.start();
      cpu.restart();
      return {};
    case 'window-stop':
      timing = false;
      return { ...cpu.read(), ...latency.stop() };
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
process.once('SIGTERM', async () => {
  await server.close();
  await aggregator.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
