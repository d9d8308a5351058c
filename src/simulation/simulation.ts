import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedClock } from '../time/simulatedClock.ts';
import { AggregatorNode } from './aggregatorNode.ts';
import { Checks } from './checks.ts';
import { EngineNode } from './engineNode.ts';
import { type Action, FaultInjector } from './faults.ts';
import { Operator } from './operator.ts';
import { Random } from './random.ts';
import { Scheduler } from './scheduler.ts';
import { SimulatedDisk } from './simulatedDisk.ts';
import { SimulatedNetwork } from './simulatedNetwork.ts';
import { SIMULATION_DEFAULTS, type SimulationOptions } from './simulationOptions.ts';
import { Trace } from './trace.ts';
import { type Violation, Violations } from './violations.ts';

export interface SimulationResult {
  seed: number;
  /** Steps taken before the quiet phase (or up to the violation). */
  steps: number;
  simulatedMs: number;
  /** The trace hash: equal for equal seeds and options. */
  traceHash: string;
  violation?: Violation & { step: number; lastEvents: string[] };
  stats: Record<string, unknown>;
}

/** Thrown out of the loop when an invariant fails; carries the step. */
class Stop extends Error {}

/**
 * The whole system under one seeded scheduler: K engines (the real dispatcher, outboxes, simulated
 * engine and hardware recovery), one aggregator with its real SQLite store, the simulated network and
 * disk, the operators; faults and crashes at any step; invariants after every step and at the end.
 */
export async function simulate(
  asked: Partial<SimulationOptions> = {},
  progress?: (step: number, simulatedMs: number) => void,
): Promise<SimulationResult> {
  const options = { ...SIMULATION_DEFAULTS, ...asked };
  const root = new Random(options.seed);
  const clock = new SimulatedClock();
  const start = clock.now();
  const trace = new Trace(Number(process.env.SIMULATION_TRACE_LINES ?? 40));
  const violations = new Violations();
  const scheduler = new Scheduler(clock, root.fork(), trace);
  const network = new SimulatedNetwork(clock, root.fork());
  const disk = new SimulatedDisk(root.fork());
  const engines: EngineNode[] = [];
  const aggregatorNode: AggregatorNode = new AggregatorNode(
    { clock, network },
    root.fork(),
    options.abandonAfterMs,
    () => checks.watch(),
  );
  const checks = new Checks(aggregatorNode, engines, violations);
  const outboxRoot = mkdtempSync(join(tmpdir(), 'engine-link-simulation-'));
  const world = {
    outboxRoot,
    clock,
    network,
    disk,
    violations,
    acknowledged: checks.acknowledged.bind(checks),
  };
  for (let i = 0; i < options.engines; i++)
    engines.push(
      new EngineNode(world, {
        id: `eng-${i + 1}`,
        durable: i % 2 === 0,
        autoRuns: i % 3 !== 2,
        random: root.fork(),
      }),
    );
  const operator = new Operator(root.fork(), violations);
  const injector = new FaultInjector(
    { network, disk, aggregator: aggregatorNode, engines, operator, now: () => clock.now() },
    root.fork(),
  );
  const chooser = root.fork();
  scheduler.add(network);
  scheduler.add(aggregatorNode);

  let step = 0;
  const checkStep = () => {
    checks.afterStep();
    if (violations.first) throw new Stop();
  };
  const act = async (action: Action) => {
    await scheduler.act(action.label, () => action.run());
    checkStep();
  };
  const elapsed = () => clock.now() - start;
  const more = () => (options.hours > 0 ? elapsed() < options.hours * 3_600_000 : step < options.steps);
  try {
    await act({ label: 'aggregator starts', run: () => aggregatorNode.start() });
    for (const engine of engines) await act({ label: `${engine.id} starts`, run: () => engine.start() });
    // (The disk is healthy at the start: no first start fails.)
    while (more()) {
      step++;
      for (const heal of injector.due()) await act(heal);
      if (chooser.chance(options.actionRate)) await act(injector.draw());
      else {
        await scheduler.step();
        checkStep();
      }
      if (options.progressEverySteps > 0 && step % options.progressEverySteps === 0)
        progress?.(step, elapsed());
    }
    // The quiet phase: every fault healed (some engines left dead), time to catch up, workloads stopped,
    // and longer than the abandon time, so that every run can settle.
    const leaveDown = new Set(engines.filter((e) => !e.alive && chooser.chance(options.leaveDownShare * 2)));
    for (const heal of injector.healAll(leaveDown)) await act(heal);
    await scheduler.runFor(60_000, checkStep);
    for (const engine of engines)
      await act({ label: `${engine.id} workload stops`, run: () => engine.running?.engine.stop() });
    await scheduler.runFor(options.abandonAfterMs + 30_000, checkStep);
    checks.final();
    if (violations.first) throw new Stop();
  } catch (error) {
    if (!(error instanceof Stop)) throw error;
  } finally {
    rmSync(outboxRoot, { recursive: true, force: true });
  }
  const stats = {
    actions: injector.drawn,
    pendingWritesFlushed: engines.reduce((n, e) => n + e.pendingFlushed, 0),
    network: network.stats,
    disk: disk.stats,
    operator: operator.stats,
    aggregatorIncarnations: aggregatorNode.incarnation,
    engines: engines.map((e) => ({
      id: e.id,
      durable: e.durable,
      processes: e.incarnation,
      epochs: e.account.order.length,
      commandsRerunAfterRestart: e.rerunAfterRestart,
      startFailures: e.startFailures,
    })),
    traceLines: trace.lines,
  };
  return {
    seed: options.seed,
    steps: step,
    simulatedMs: elapsed(),
    traceHash: trace.digest(),
    violation: violations.first && { ...violations.first, step, lastEvents: trace.last() },
    stats,
  };
}
