// Re-homing after a node is killed: two aggregator nodes (CLI processes, `--node-id`, leases of <leaseMs>)
// on the PostgreSQL database <url>, <engines> simulated engines (CLI processes, 10 samples/s, both URLs
// given). Once every engine is held and delivering, the node holding the most is SIGKILLed; the time until
// every one of its engines is held by the other node and has stored 5 more records there is measured
// (read from the database every 50 ms). Prints one JSON line. Args: <url> <engines> <leaseMs>
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { restartablePort } from '../../src/faults/restartablePort.ts';
import { waitFor } from '../../src/faults/waitFor.ts';
import { AggregatorSlot } from '../../src/soak/aggregatorSlot.ts';
import { EngineSlot } from '../../src/soak/engineSlot.ts';

const [url, enginesArg, leaseArg] = process.argv.slice(2) as [string, string, string];
const engineCount = Number(enginesArg);
const leaseMs = Number(leaseArg);
const dir = mkdtempSync(join(tmpdir(), 'engine-link-rehome-'));
const sql = postgres(url, { max: 1, onnotice: () => {} });
const renew = String(Math.max(100, Math.round(leaseMs / 4)));
const nodes = ['node-1', 'node-2'].map(
  (name) =>
    new AggregatorSlot(url, dir, ['--node-id', name, '--lease', String(leaseMs), '--lease-renew', renew]),
);
const engines: EngineSlot[] = [];

async function state(): Promise<{ owners: Map<string, string>; marks: Map<string, number> }> {
  const owners = await sql<{ engine_id: string; node: string }[]>`
    SELECT engine_id, node FROM leases WHERE expires_at > clock_timestamp()`;
  const marks = await sql<{ engine_id: string; high_water: number }[]>`
    SELECT s.engine_id, s.high_water::int8 AS high_water FROM streams s
    JOIN engines e ON e.id = s.engine_id AND e.current_epoch = s.epoch`;
  return {
    owners: new Map(owners.map((r) => [r.engine_id, r.node])),
    marks: new Map(marks.map((r) => [r.engine_id, Number(r.high_water)])),
  };
}

try {
  for (const node of nodes) node.port = await restartablePort();
  await Promise.all(nodes.map((node) => node.start()));
  const urls = nodes.map((node) => `ws://127.0.0.1:${node.port}`);
  for (let i = 0; i < engineCount; i++) {
    const slot = new EngineSlot(
      {
        id: `rehome-${i}`,
        logDir: dir,
        rate: 10,
        runSeconds: 5,
        failEvery: 0,
        random: Math.random,
        progressMs: 0,
        aggregators: urls,
      },
      0,
    );
    engines.push(slot);
    await slot.start();
  }
  const ids = engines.map((slot) => slot.id);
  const settled = await waitFor(
    'every engine held and delivering',
    async () => {
      const now = await state();
      return ids.every((id) => now.owners.has(id) && (now.marks.get(id) ?? 0) > 10) ? now : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  const held = (name: string) => ids.filter((id) => settled.owners.get(id) === name);
  const victim = held('node-1').length >= held('node-2').length ? 0 : 1;
  const victimName = `node-${victim + 1}`;
  const moved = held(victimName);
  const killedAt = performance.now();
  await nodes[victim]!.kill();
  await waitFor(
    'its engines held by the other node and delivering there',
    async () => {
      const now = await state();
      return moved.every(
        (id) =>
          now.owners.get(id) !== undefined &&
          now.owners.get(id) !== victimName &&
          now.marks.get(id)! >= settled.marks.get(id)! + 5,
      );
    },
    { timeoutMs: leaseMs * 4 + 30_000, intervalMs: 50 },
  );
  const rehomeMs = performance.now() - killedAt;
  process.stdout.write(
    `${JSON.stringify({ engines: engineCount, moved: moved.length, leaseMs, rehomeMs })}\n`,
  );
} finally {
  for (const slot of engines) {
    await slot.kill();
    await slot.proxy.close();
  }
  for (const node of nodes) await node.kill();
  await sql.end();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
