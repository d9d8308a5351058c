// The aggregator of the fan-in test, in its own process (so that it can be killed with SIGKILL and
// started again on the same SQLite file and port). Tells the parent `ready` with its port, and
// `allConnected` once <engines> distinct engines have connected; answers `connections` (every accepted
// link: engine id and wall-clock time) and `engines` (what it shows of each engine).
// Args: <port> <db> <engines>
import { Aggregator } from '../../../src/aggregator/aggregator.ts';
import { startAggregatorServer } from '../../../src/aggregator/server.ts';
import { SqliteStore } from '../../../src/aggregator/store/sqliteStore.ts';
import { serveParent, tellParent } from './ipc.ts';

const [portArg, db, enginesArg] = process.argv.slice(2) as [string, string, string];
const expected = Number(enginesArg);

const aggregator = new Aggregator({
  store: new SqliteStore(db),
  heartbeatMs: 1000,
  heartbeatTimeoutMs: 3000,
});
const connections: Array<{ engineId: string; at: number }> = [];
const seen = new Set<string>();
aggregator.on('connection', (connection) => {
  connections.push(connection);
  seen.add(connection.engineId);
  if (seen.size === expected) tellParent('allConnected', { at: Date.now() });
});
/** Why links were lost (heartbeat timeout, closed by the engine, ...), with how often. */
const lost: Record<string, number> = {};
aggregator.on('engineState', ({ link, reason }) => {
  if (link === 'unavailable') lost[reason ?? '?'] = (lost[reason ?? '?'] ?? 0) + 1;
});
const server = await startAggregatorServer({ aggregator, port: Number(portArg) });

serveParent(async (request) => {
  switch (request.op) {
    case 'connections':
      return connections;
    case 'lost':
      return lost;
    case 'engines':
      return aggregator.engines().map((e) => ({
        id: e.id,
        link: e.link,
        epoch: e.epoch,
        persistedSeq: e.persistedSeq,
        persistedCount: e.persistedCount,
        duplicatesIgnored: e.duplicatesIgnored,
      }));
    case 'stop':
      await server.close();
      await aggregator.close();
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown request ${request.op}`);
  }
});
tellParent('ready', { port: server.port, at: Date.now() });
