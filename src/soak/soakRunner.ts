import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../faults/waitFor.ts';
import { checkEngine, type EngineView } from './engineCheck.ts';
import { EngineSlot } from './engineSlot.ts';
import type { RunView } from './expectedRuns.ts';
import { type FaultKind, type PlannedFault, planFaults } from './faultPlan.ts';
import { ProxyGroup } from './proxyGroup.ts';
import { SeededRandom } from './seededRandom.ts';
import { SoakNodes } from './soakNodes.ts';
import type { SoakReport } from './soakReport.ts';
import { openSoakStore } from './soakStore.ts';

export interface SoakOptions {
  seed: number;
  minutes: number;
  engines: number;
  /** Sample records per second per engine. Default 100. */
  rate?: number;
  /** Length of each simulated run (s). Default 2. */
  runSeconds?: number;
  /** Every Nth run fails. Default 3. */
  failEvery?: number;
  /** Mean time between faults (ms). Default 1500. */
  meanGapMs?: number;
  /** Where the store, outboxes and logs go. Default: a new temporary directory. */
  dir?: string;
  /**
   * The aggregator's store: none, a SQLite file in `dir`; `postgres`, a throwaway PostgreSQL server of
   * the soak's own, SIGKILLed and restarted as one more fault; a postgres:// URL, that database.
   */
  db?: string;
  /**
   * Aggregator nodes (default 1): more than one make a fleet on the PostgreSQL store (each engine given
   * every node's URL, each through a fault proxy of its own), nodes SIGKILLed among the faults.
   */
  nodes?: number;
  /** Progress lines (faults as they happen). */
  log?: (line: string) => void;
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

/**
 * The seeded soak: K simulated engines (durable outboxes synced on every record) run methods while,
 * at moments drawn from the seed, their links are cut, closed, black-holed, stalled, delayed, trickled
 * and refused (a fault proxy per engine on loopback), engines are killed with SIGKILL and restarted on
 * the same outbox, and the aggregator is killed with SIGKILL and restarted on the same store. At the end
 * the faults stop, every engine catches up and is stopped cleanly (it drains), and the store is checked
 * record by record and run by run against what the engines printed.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const began = Date.now();
  const log = options.log ?? (() => {});
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'engine-link-soak-'));
  const logDir = join(dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const durationMs = options.minutes * 60_000;
  const random = new SeededRandom(options.seed);
  const nodeCount = options.nodes ?? 1;
  const store = await openSoakStore(options.db, dir);
  if (nodeCount > 1 && !store.db.startsWith('postgres')) {
    store.close();
    throw new Error(
      '--nodes: a fleet of aggregators needs a PostgreSQL store (--db postgres or a postgres:// URL)',
    );
  }
  const plan = planFaults(random, {
    durationMs,
    engines: options.engines,
    meanGapMs: options.meanGapMs ?? 1500,
    postgres: store.cluster !== undefined,
    nodes: nodeCount,
  });
  const proxyRandom = new SeededRandom(options.seed ^ 0x5eed);
  const differences: string[] = [];
  const faults: Partial<Record<FaultKind, number>> = {};

  const nodes = new SoakNodes(store.db, logDir, nodeCount);
  await nodes.start();
  const aggregator = nodes.slots[0]!;
  // In a fleet each engine reaches every node through a proxy of its own per node, faulted together.
  const groups = nodes.fleet
    ? Array.from(
        { length: options.engines },
        () =>
          new ProxyGroup(
            nodes.slots.map((slot) => slot.port),
            proxyRandom.fn,
          ),
      )
    : undefined;
  for (const group of groups ?? []) await group.start();
  const slots = Array.from(
    { length: options.engines },
    (_, i) =>
      new EngineSlot(
        {
          id: `soak-${i + 1}`,
          outboxDir: join(dir, `outbox-${i + 1}`),
          logDir,
          rate: options.rate ?? 100,
          runSeconds: options.runSeconds ?? 2,
          failEvery: options.failEvery ?? 3,
          random: proxyRandom.fn,
          ...(groups ? { aggregators: groups[i]!.urls() } : {}),
        },
        aggregator.port,
      ),
  );
  log(`soak: seed ${options.seed}, ${plan.length} faults planned over ${options.minutes} min; in ${dir}`);
  try {
    for (const slot of slots) await slot.openProxy();
    await Promise.all(slots.map((slot) => slot.start()));

    const start = Date.now();
    const inFlight = new Set<Promise<void>>();
    for (const fault of plan) {
      // The plan's moments are the test's input: waiting for them is the schedule, not a synchronisation.
      const wait = start + fault.at - Date.now();
      if (wait > 0) await sleep(wait);
      const done = inject(fault).then(
        (carriedOut) => {
          if (carriedOut) faults[fault.kind] = (faults[fault.kind] ?? 0) + 1;
        },
        (error: Error) => {
          differences.push(`fault ${describe(fault)} failed: ${error.message}`);
        },
      );
      inFlight.add(done);
      void done.finally(() => inFlight.delete(done));
    }
    const left = start + durationMs - Date.now();
    if (left > 0) await sleep(left);
    await Promise.all(inFlight);

    // Faults are over: everything back up, then every engine catches up.
    for (const slot of slots) slot.proxy.restore();
    for (const group of groups ?? []) group.restore();
    await nodes.startStopped();
    for (const slot of slots) if (!slot.running) await slot.start();
    log('soak: faults over; waiting for every engine to catch up');
    try {
      await waitFor(
        'every engine is available and caught up',
        async () => {
          const views = await nodes.views<EngineView>();
          return slots.every((slot) => {
            const view = views.find((v) => v.id === slot.id);
            const progress = slot.progress;
            return view?.link === 'available' && progress && view.persistedSeq >= progress.lastSeq;
          });
        },
        { timeoutMs: 120_000, intervalMs: 250 },
      );
    } catch (error) {
      differences.push((error as Error).message);
    }
    log('soak: stopping the engines (they drain)');
    await Promise.all(slots.map((slot) => slot.stop()));
    let views: EngineView[] = [];
    try {
      views = await waitFor(
        'every engine shows offline',
        async () => {
          const all = await getJson<EngineView[]>(`${nodes.url()}/api/engines`);
          return slots.every((slot) => all.find((v) => v.id === slot.id)?.link === 'offline')
            ? all
            : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
    } catch (error) {
      differences.push((error as Error).message);
      views = await getJson<EngineView[]>(`${nodes.url()}/api/engines`).catch(() => []);
    }
    log('soak: engines offline; reading runs');
    const runsByEngine = new Map<string, RunView[]>();
    for (const slot of slots)
      runsByEngine.set(slot.id, await getJson<RunView[]>(`${nodes.url()}/api/runs?engine=${slot.id}`));
    log(nodes.fleet ? 'soak: stopping the aggregator nodes' : 'soak: stopping the aggregator');
    const aggregatorExit = await nodes.stop();
    log('soak: checking the store');
    if (aggregatorExit !== 0) differences.push(`the aggregator exited with ${aggregatorExit} on SIGTERM`);

    const rows = [];
    for (const slot of slots)
      rows.push(
        await checkEngine(
          slot,
          views.find((v) => v.id === slot.id),
          runsByEngine.get(slot.id) ?? [],
          aggregator.dbPath,
        ),
      );
    const faultTotal = Object.values(faults).reduce((sum, n) => sum + n, 0);
    const ok = differences.length === 0 && rows.every((row) => row.differences.length === 0);
    return {
      seed: options.seed,
      minutes: options.minutes,
      engines: options.engines,
      faults,
      faultTotal,
      aggregatorRestarts: nodes.restarts,
      rows,
      differences,
      ok,
      workDir: dir,
      elapsedMs: Date.now() - began,
    };
  } finally {
    log('soak: cleaning up');
    for (const slot of slots) {
      await slot.kill();
      await slot.proxy.close();
    }
    for (const group of groups ?? []) await group.close();
    await nodes.killAll();
    store.close();
  }

  async function inject(fault: PlannedFault): Promise<boolean> {
    log(`${((Date.now() - began) / 1000).toFixed(1).padStart(6)} s  ${describe(fault)}`);
    if (fault.kind === 'kill-postgres') {
      const cluster = store.cluster;
      if (!cluster) return false;
      await cluster.kill();
      await sleep(fault.durationMs);
      await cluster.start();
      return true;
    }
    if (fault.kind === 'kill-aggregator') return nodes.kill(fault.node ?? 0, fault.durationMs);
    const slot = slots[fault.engine!]!;
    const proxy = groups?.[fault.engine!] ?? slot.proxy;
    switch (fault.kind) {
      case 'kill-engine':
        if (!(await slot.kill())) return false;
        await sleep(fault.durationMs);
        await slot.start();
        return true;
      case 'cut':
        proxy.cut();
        return true;
      case 'close':
        proxy.closeConnections();
        return true;
      case 'blackhole':
        proxy.blackhole();
        break;
      case 'stall':
        proxy.stall();
        break;
      case 'refuse':
        proxy.refuse();
        break;
      case 'delay':
        proxy.delayMs = fault.amount ?? 200;
        break;
      case 'trickle':
        proxy.trickle(fault.amount ?? 4000);
        break;
    }
    await sleep(fault.durationMs);
    proxy.restore();
    return true;
  }
}

function describe(fault: PlannedFault): string {
  const target =
    fault.kind === 'kill-postgres'
      ? 'PostgreSQL'
      : fault.engine !== undefined
        ? `soak-${fault.engine + 1}`
        : fault.node !== undefined
          ? `node-${fault.node + 1}`
          : 'aggregator';
  const amount =
    fault.kind === 'delay' ? ` +${fault.amount} ms` : fault.kind === 'trickle' ? ` ${fault.amount} B/s` : '';
  const lasting = fault.durationMs > 0 ? ` for ${(fault.durationMs / 1000).toFixed(1)} s` : '';
  return `${fault.kind}${amount} ${target}${lasting}`;
}
