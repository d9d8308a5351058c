import type { AggregatorNode } from './aggregatorNode.ts';
import type { EngineNode } from './engineNode.ts';
import type { Operator } from './operator.ts';
import type { Random } from './random.ts';
import type { SimulatedDisk } from './simulatedDisk.ts';
import type { SimulatedNetwork } from './simulatedNetwork.ts';

/** What the fault injector may touch. */
export interface FaultWorld {
  network: SimulatedNetwork;
  disk: SimulatedDisk;
  aggregator: AggregatorNode;
  engines: readonly EngineNode[];
  operator: Operator;
  now(): number;
}

/** One action of the injector: a label for the trace and what it does (and maybe what came of it). */
export interface Action {
  label: string;
  run(): unknown;
}

/** How often each kind of action is drawn (relative weights). */
export const ACTION_WEIGHTS = {
  command: 14,
  hardwareWrite: 12,
  hardwareRead: 4,
  hardwareFault: 5,
  cut: 3,
  closeConnections: 2,
  blackhole: 1.5,
  stall: 1.5,
  refuse: 1,
  delay: 2,
  trickle: 1,
  corrupt: 1.5,
  engineKill: 2,
  enginePowerOff: 2,
  aggregatorKill: 1.5,
  diskFault: 2,
} as const;

type ActionKind = keyof typeof ACTION_WEIGHTS;

/**
 * Draws the faults and the people's actions, and heals what it broke after a drawn while: a network
 * fault lasts 0.5 to 60 s, a dead engine or aggregator stays down 0.1 to 30 s, a disk or hardware fault
 * 1 to 90 s. Healing is due by time; the simulation asks for due heals at every step.
 */
export class FaultInjector {
  private networkHealAt: number | undefined;
  private diskHealAt: number | undefined;
  private aggregatorUpAt: number | undefined;
  private readonly engineUpAt = new Map<EngineNode, number>();
  private readonly hardwareHealAt = new Map<EngineNode, number>();
  /** Actions drawn, by kind. */
  readonly drawn: Record<string, number> = {};

  constructor(
    private readonly world: FaultWorld,
    private readonly random: Random,
  ) {}

  /** Heals that are due now (a restart, the network back, the disk back). */
  due(): Action[] {
    const now = this.world.now();
    const actions: Action[] = [];
    const { network, disk, aggregator } = this.world;
    if (this.networkHealAt !== undefined && now >= this.networkHealAt) {
      this.networkHealAt = undefined;
      actions.push({ label: 'network restored', run: () => network.restore() });
    }
    if (this.diskHealAt !== undefined && now >= this.diskHealAt) {
      this.diskHealAt = undefined;
      actions.push({
        label: 'disk healthy',
        run: () => {
          disk.fault = undefined;
          return undefined;
        },
      });
    }
    if (this.aggregatorUpAt !== undefined && now >= this.aggregatorUpAt) {
      this.aggregatorUpAt = undefined;
      actions.push({ label: 'aggregator restarts', run: () => aggregator.start() });
    }
    for (const [engine, at] of this.engineUpAt)
      if (now >= at) {
        this.engineUpAt.delete(engine);
        actions.push({
          label: `${engine.id} restarts`,
          run: () => {
            const failure = engine.start();
            // Its supervisor tries again a little later.
            if (failure) this.engineUpAt.set(engine, this.world.now() + this.random.int(500, 5000));
            return failure;
          },
        });
      }
    for (const [engine, at] of this.hardwareHealAt)
      if (now >= at) {
        this.hardwareHealAt.delete(engine);
        actions.push({
          label: `${engine.id} hardware repaired`,
          run: () => engine.running?.hardware.repairLink(),
        });
      }
    return actions;
  }

  /** Heals everything now, except the engines in `leaveDown` (for the final checks). */
  healAll(leaveDown: ReadonlySet<EngineNode>): Action[] {
    const now = this.world.now();
    this.networkHealAt = this.diskHealAt = now;
    if (!this.world.aggregator.aggregator) this.aggregatorUpAt = now;
    for (const engine of this.world.engines) {
      if (leaveDown.has(engine)) this.engineUpAt.delete(engine);
      else if (!engine.alive) this.engineUpAt.set(engine, now);
      this.hardwareHealAt.set(engine, now);
    }
    return this.due();
  }

  /** Draws one action. */
  draw(): Action {
    const kind = this.random.weighted<ActionKind>(ACTION_WEIGHTS);
    this.drawn[kind] = (this.drawn[kind] ?? 0) + 1;
    const { network, disk, aggregator, engines, operator } = this.world;
    const engine = this.random.pick(engines);
    const live = engines.filter((e) => e.alive);
    const someLive = live.length > 0 ? this.random.pick(live) : undefined;
    const seconds = (min: number, max: number) => this.world.now() + this.random.int(min * 1000, max * 1000);
    const networkFault = (label: string, apply: () => void): Action => ({
      label,
      run: () => {
        apply();
        this.networkHealAt = seconds(0.5, 60);
      },
    });
    switch (kind) {
      case 'command':
        return { label: 'operator command', run: () => operator.command(aggregator, engines) };
      case 'hardwareWrite':
        return someLive
          ? { label: 'operator hardware write', run: () => operator.writeHardware(someLive) }
          : { label: 'operator hardware write: no engine up', run: () => {} };
      case 'hardwareRead':
        return { label: `${engine.id} hardware read`, run: () => engine.readHardware() };
      case 'hardwareFault': {
        const how = this.random.pick(['breakLink', 'reads', 'writes'] as const);
        return {
          label: `${engine.id} hardware fault ${how}`,
          run: () => {
            const hardware = engine.running?.hardware;
            if (!hardware) return;
            if (how === 'breakLink') hardware.breakLink();
            else if (how === 'reads') hardware.failReads = true;
            else hardware.failWrites = true;
            this.hardwareHealAt.set(engine, seconds(1, 90));
            return undefined;
          },
        };
      }
      case 'cut':
        return { label: 'network cut (reset every link)', run: () => network.reset('cut') };
      case 'closeConnections':
        return { label: 'network closes every link', run: () => network.closeConnections() };
      case 'blackhole':
      case 'stall':
      case 'refuse':
        return networkFault(`network ${kind}`, () => network.setMode(kind));
      case 'delay': {
        const ms = this.random.int(5, 3000);
        return networkFault(`network delay ${ms} ms`, () => {
          network.delayMs = ms;
        });
      }
      case 'trickle': {
        const rate = this.random.int(100, 5000);
        return networkFault(`network trickle ${rate} B/s`, () => {
          network.trickleBytesPerSecond = rate;
        });
      }
      case 'corrupt': {
        const rate = this.random.pick([0.01, 0.05, 0.2]);
        return networkFault(`network corrupts frames at ${rate}`, () => {
          network.corruptRate = rate;
        });
      }
      case 'engineKill':
      case 'enginePowerOff':
        return {
          label: `${engine.id} ${kind === 'engineKill' ? 'killed' : 'powered off'}`,
          run: () => {
            if (!engine.alive) return;
            if (kind === 'engineKill') engine.kill();
            else engine.powerOff();
            this.engineUpAt.set(engine, seconds(0.1, 30));
          },
        };
      case 'aggregatorKill':
        return {
          label: 'aggregator killed',
          run: () => {
            if (!aggregator.aggregator) return;
            aggregator.kill();
            this.aggregatorUpAt = seconds(0.1, 30);
          },
        };
      case 'diskFault': {
        const code = this.random.pick(['ENOSPC', 'EIO'] as const);
        const rate = this.random.pick([0.05, 0.3, 1]);
        return {
          label: `disk fails ${code} at ${rate}`,
          run: () => {
            disk.fault = { code, rate };
            this.diskHealAt = seconds(1, 90);
          },
        };
      }
    }
  }
}
