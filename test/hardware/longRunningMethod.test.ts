import { describe, expect, it } from 'vitest';
import { HardwareUnavailableError } from '../../src/hardware/errors.ts';
import type { HardwareRecovery } from '../../src/hardware/hardwareRecovery.ts';
import type { HardwareValue } from '../../src/hardware/register.ts';
import type { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { setpoint, setup, temperature } from './support.ts';

const TICK_MS = 100;

/**
 * A method as an engine runs it: every 100 ms (simulated) it reads the temperature and writes the
 * setpoint (the tick number), for as long as it runs.
 *
 * What "pauses on error" means here, as in the engine: a step that fails with
 * `HardwareUnavailableError` (reads and writes fail only in `error` and `disconnected`, never while
 * faults are masked) puts the method in the paused state; it waits in `recovery.whenUsable()`, which
 * resolves when the link is back, and then retries the step that failed on its next tick. Nothing else
 * stops it.
 */
class SimulatedMethod {
  ticks = 0;
  paused = false;
  readonly readings: HardwareValue[] = [];
  readonly pauses: Array<{ at: number; state: string }> = [];
  readonly resumes: number[] = [];
  private stopped = false;
  private done: Promise<void> | undefined;

  constructor(
    private readonly recovery: HardwareRecovery,
    private readonly clock: SimulatedClock,
  ) {}

  start(): void {
    this.done = this.run();
  }

  /** Stops after the step under way; lets simulated time reach the end of the current wait. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.clock.advance(TICK_MS);
    await this.done;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, TICK_MS));
      if (this.stopped) break;
      try {
        await this.step();
      } catch (error) {
        if (!(error instanceof HardwareUnavailableError)) throw error;
        this.paused = true;
        this.pauses.push({ at: this.clock.now(), state: error.state });
        await this.recovery.whenUsable();
        this.paused = false;
        this.resumes.push(this.clock.now());
      }
    }
  }

  private async step(): Promise<void> {
    this.readings.push(await this.recovery.read(temperature));
    await this.recovery.write(this.ticks + 1, setpoint);
    this.ticks++;
  }
}

describe('a long-running method on hardware that fails', () => {
  it('keeps running through an issue and a reconnect, pauses on error, and resumes when the link is back', async () => {
    const { clock, hardware, recovery } = setup({ errorAfterMs: 120_000 });
    await recovery.connect();
    hardware.setValue('temperature', 50);
    const method = new SimulatedMethod(recovery, clock);
    const startedAt = clock.now();
    const at = (ms: number) => startedAt + ms;
    /** Steps due so far: the method kept running when it did every one of them. */
    const due = () => (clock.now() - startedAt) / TICK_MS;
    method.start();

    // 5 s of normal running: 50 steps, every value read from and written to the hardware.
    await clock.advance(5_000);
    expect(method.ticks).toBe(50);
    expect(hardware.value('setpoint')).toBe(50);

    // The link breaks (first fault at 5.1 s). The method keeps running: reads return the last good
    // temperature, the setpoint waits as a pending write.
    hardware.breakLink();
    hardware.setValue('temperature', 99);
    await clock.advance(5_000);
    expect(recovery.state).toBe('issue');
    expect(method.ticks).toBe(due());
    expect(method.readings.slice(50)).toEqual(Array(50).fill(50));
    expect(recovery.pendingWrites.get('setpoint')).toBe(100);

    // 10 s after the first fault (15.1 s) the link reconnects; the method runs on, and nothing touches
    // the hardware but the reconnect attempts.
    await clock.advance(at(15_100) - clock.now());
    expect(recovery.state).toBe('reconnect');
    const accesses = hardware.readWriteCalls;
    await clock.advance(5_000);
    expect(hardware.readWriteCalls).toBe(accesses);
    expect(method.ticks).toBe(due());
    expect(recovery.connectionStatus).toBe('Connected');

    // The hardware comes back; the third attempt (12.5 s into reconnect, at 27.6 s) restores the link
    // and the pending setpoint reaches the hardware before the method's next step.
    hardware.repairLink();
    await clock.advance(at(27_600) - clock.now() - 1);
    expect(recovery.state).toBe('reconnect');
    await clock.advance(1);
    expect(recovery.state).toBe('ok');
    expect(method.ticks).toBe(due());
    expect(hardware.writeLog.slice(-2)).toEqual([
      { register: 'setpoint', value: 275 },
      { register: 'setpoint', value: 276 },
    ]);
    expect(method.readings.at(-1)).toBe(99);
    expect(method.pauses).toEqual([]);

    // It breaks for good: issue at 27.7 s, reconnect at 37.7 s, error 2 min later at 157.7 s. The
    // step due then fails with HardwareUnavailableError: the method pauses.
    hardware.breakLink();
    await clock.advance(at(157_700) - clock.now());
    expect(recovery.state).toBe('error');
    expect(recovery.connectionStatus).toBe('Disconnected');
    expect(method.paused).toBe(true);
    expect(method.pauses).toEqual([{ at: at(157_700), state: 'error' }]);
    const ticksAtPause = method.ticks;
    expect(ticksAtPause).toBe(due() - 1);
    const accessesAtPause = hardware.readWriteCalls;
    await clock.advance(30_000);
    expect(method.ticks).toBe(ticksAtPause);
    expect(hardware.readWriteCalls).toBe(accessesAtPause);

    // The hardware comes back; the attempt 162.5 s into reconnect (at 200.2 s) succeeds, and the
    // method resumes: the step that failed is done again 100 ms later, and every 100 ms after that.
    hardware.repairLink();
    await clock.advance(at(200_200) - clock.now());
    expect(recovery.state).toBe('ok');
    expect(method.paused).toBe(false);
    expect(method.resumes).toEqual([at(200_200)]);
    expect(method.ticks).toBe(ticksAtPause);
    await clock.advance(1_000);
    expect(method.ticks).toBe(ticksAtPause + 10);
    expect(hardware.value('setpoint')).toBe(method.ticks);

    await method.stop();
    await recovery.disconnect();
  });
});
