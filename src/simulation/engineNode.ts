import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DurableOutbox } from '../engine/outbox/durable/durableOutbox.ts';
import { MemoryOutbox } from '../engine/outbox/memoryOutbox.ts';
import type { Outbox } from '../engine/outbox/outbox.ts';
import { ResilientDispatcher } from '../engine/resilientDispatcher.ts';
import { SimulatedEngine } from '../engine/simulatedEngine.ts';
import { HardwareRecovery } from '../hardware/hardwareRecovery.ts';
import { reportHardwareState } from '../hardware/reportHardwareState.ts';
import type { SimulatedClock } from '../time/simulatedClock.ts';
import { EngineAccount } from './engineAccount.ts';
import { ProcessClock } from './processClock.ts';
import type { Random } from './random.ts';
import type { SimulatedDisk } from './simulatedDisk.ts';
import type { SimulatedNetwork } from './simulatedNetwork.ts';
import { INVARIANTS, type Violations } from './violations.ts';
import { HARDWARE_REGISTERS, WatchedHardware } from './watchedHardware.ts';

/** What an engine node needs of the world around it. */
export interface EngineWorld {
  clock: SimulatedClock;
  network: SimulatedNetwork;
  disk: SimulatedDisk;
  violations: Violations;
  /** A real temporary directory: the durable outboxes' lock and owner files live there. */
  outboxRoot: string;
  /** Told of every acknowledgement the engine takes, before its outbox forgets anything. */
  acknowledged(account: EngineAccount, epoch: string, seq: number): void;
}

export interface EngineNodeOptions {
  id: string;
  /** A durable outbox on the simulated disk (else a memory one: a crash loses what it held). */
  durable: boolean;
  /** Runs start by themselves (`runSeconds` of the simulated engine); else only by command. */
  autoRuns: boolean;
  random: Random;
}

/** One engine process as it runs: its clock, outbox, dispatcher, workload and hardware. */
interface EngineProcess {
  readonly clock: ProcessClock;
  readonly outbox: Outbox;
  readonly dispatcher: ResilientDispatcher;
  readonly engine: SimulatedEngine;
  readonly hardware: WatchedHardware;
  readonly recovery: HardwareRecovery;
  readonly unmount: (() => void) | undefined;
}

/**
 * One simulated engine machine: the real `ResilientDispatcher` (memory or durable outbox), the
 * `SimulatedEngine` workload (samples, runs, commands), and a `HardwareRecovery` over a watched
 * simulated device, all on a clock that dies with the process. `kill()` is SIGKILL (the disk's page
 * cache survives), `powerOff()` a machine crash (what was not synced may be lost or torn); `start()`
 * brings a new process up on the same disk.
 */
export class EngineNode {
  readonly id: string;
  readonly durable: boolean;
  readonly account: EngineAccount;
  /** Which process this is (1 for the first); command ids are checked per process. */
  incarnation = 0;
  private process: EngineProcess | undefined;
  private epochCount = 0;
  private readonly random: Random;
  private readonly autoRuns: boolean;
  /** Command ids run by each process, for the at-most-once check. */
  private commandsRun = new Set<string>();
  /** Commands the aggregator accepted for this engine (ids), to tell a ghost command. */
  readonly accepted = new Set<string>();
  /** Ids run again by a later process: with a memory outbox (command log in memory) reported, not a violation. */
  rerunAfterRestart = 0;
  private readonly everRun = new Set<string>();
  /** Starts that failed (the durable outbox could not open its directory on a failing disk). */
  startFailures = 0;
  private flushedBefore = 0;
  private unmountOnFailure: (() => void) | undefined;

  constructor(
    private readonly world: EngineWorld,
    options: EngineNodeOptions,
  ) {
    this.id = options.id;
    this.durable = options.durable;
    this.random = options.random;
    this.autoRuns = options.autoRuns;
    this.account = new EngineAccount(this.id, world.violations);
  }

  get alive(): boolean {
    return this.process !== undefined;
  }

  get running(): EngineProcess | undefined {
    return this.process;
  }

  /** The outbox directory: on the simulated disk, and on the real one for the lock and owner files. */
  private get dir(): string {
    return join(this.world.outboxRoot, this.id);
  }

  /**
   * Starts a process; returns why it could not (a failing disk can fail the durable outbox's opening:
   * the process exits, as the CLI does, and its supervisor starts it again later).
   */
  start(): string | undefined {
    if (this.process) return undefined;
    this.incarnation++;
    this.commandsRun = new Set();
    const clock = new ProcessClock(this.world.clock);
    try {
      this.process = this.startProcess(clock);
      return undefined;
    } catch (error) {
      clock.kill();
      this.unmountOnFailure?.();
      this.world.network.killOwner(`${this.id}/${this.incarnation}`);
      this.startFailures++;
      return `start failed: ${(error as Error).message}`;
    }
  }

  private startProcess(clock: ProcessClock): EngineProcess {
    const nameEpoch = () => `${this.id}.e${++this.epochCount}`;
    let unmount: (() => void) | undefined;
    let outbox: Outbox;
    if (this.durable) {
      mkdirSync(this.dir, { recursive: true });
      const mount = this.world.disk.mount();
      unmount = mount.unmount;
      this.unmountOnFailure = mount.unmount;
      const durable = new DurableOutbox({
        path: this.dir,
        engineId: this.id,
        clock,
        fileSystem: mount.files,
        newEpoch: nameEpoch,
        sync: this.random.chance(0.5) ? 'always' : 'batch',
        // The documented window a crash may lose under batch: wider than the default, so crashes hit it.
        syncEveryMs: this.random.pick([100, 500, 2000]),
        segmentBytes: 4096,
        diskRetry: { initialMs: 500, maxMs: 5000 },
      });
      for (const gap of [
        ...durable.recovery.damaged,
        ...(durable.recovery.lost ? [durable.recovery.lost] : []),
      ])
        this.account.gapReported(durable.epoch, gap);
      outbox = durable;
    } else outbox = new MemoryOutbox({}, nameEpoch());
    this.account.adopt(outbox);
    this.account.watch(outbox, (epoch, seq) => this.world.acknowledged(this.account, epoch, seq));

    let engine: SimulatedEngine | undefined;
    const dispatcher = new ResilientDispatcher({
      engineId: this.id,
      connector: this.world.network.connectorFor(`${this.id}/${this.incarnation}`),
      outbox,
      clock,
      random: this.random.fn,
      snapshot: () => engine?.runs.snapshot(),
      maxOfflineMs: 30_000,
      onCommand: (command) => {
        this.commandRan(command.id);
        return engine!.handleCommand(command);
      },
    });
    dispatcher.on('error', () => {});
    engine = new SimulatedEngine(dispatcher, {
      clock,
      rate: this.random.int(1, 4),
      tags: 3,
      runSeconds: this.autoRuns ? this.random.int(5, 60) : 0,
      failEvery: 3,
      runGapSeconds: this.random.int(1, 10),
    });
    dispatcher.on('offlineTooLong', () => engine?.pauseForOutage());
    dispatcher.on('onlineAgain', () => engine?.resumeAfterOutage());
    const hardware = new WatchedHardware(this.id, this.world.violations);
    const recovery = new HardwareRecovery(hardware, {
      clock,
      reconnectAfterMs: 5_000,
      errorAfterMs: 60_000,
      reconnectScheduleMs: [500, 2_000, 10_000],
    });
    hardware.recovery = recovery;
    reportHardwareState(recovery, dispatcher);
    recovery.connect().catch(() => {});
    engine.start();
    this.unmountOnFailure = undefined;
    return { clock, outbox, dispatcher, engine, hardware, recovery, unmount };
  }

  /** SIGKILL: nothing more runs; its links reset; the disk keeps what the process wrote. */
  /** Pending hardware writes that reached the device (by every process so far). */
  get pendingFlushed(): number {
    return this.flushedBefore + (this.process?.hardware.pendingFlushed ?? 0);
  }

  kill(): void {
    const process = this.process;
    if (!process) return;
    this.flushedBefore += process.hardware.pendingFlushed;
    process.clock.kill();
    process.unmount?.();
    this.world.network.killOwner(`${this.id}/${this.incarnation}`);
    this.process = undefined;
  }

  /** The machine crashes: as `kill`, and what the disk had not synced may be lost or torn. */
  powerOff(): void {
    this.kill();
    if (this.durable) this.world.disk.crash(`${this.dir}/`);
  }

  /** An operator's write of a unique value to a register; faults are the recovery's to mask. */
  writeHardware(value: number): void {
    const register = HARDWARE_REGISTERS[this.random.int(0, 1)]!;
    const recovery = this.process?.recovery;
    const target = recovery?.registers.get(register.name);
    if (!recovery || !target) return;
    recovery.write(value, target).catch(() => {});
    this.process?.hardware.notePending();
  }

  /** A read, so that `issue` can find its way back to `ok`. */
  readHardware(): void {
    const recovery = this.process?.recovery;
    const target = recovery?.registers.get('temperature');
    if (recovery && target) recovery.read(target).catch(() => {});
  }

  private commandRan(id: string): void {
    if (!this.accepted.has(id))
      this.world.violations.report(
        INVARIANTS.commandNotAccepted,
        `${this.id} ran command ${id}, never accepted`,
      );
    if (this.commandsRun.has(id))
      this.world.violations.report(
        INVARIANTS.commandOnce,
        `${this.id} (process ${this.incarnation}) ran ${id} twice`,
      );
    if (this.everRun.has(id)) {
      this.rerunAfterRestart++;
      // With a durable outbox the command log is on disk beside it: a restart must not run an id again.
      if (this.durable)
        this.world.violations.report(
          INVARIANTS.commandOnce,
          `${this.id} (process ${this.incarnation}) ran ${id} again after a restart, its command log on disk`,
        );
    }
    this.commandsRun.add(id);
    this.everRun.add(id);
  }
}
