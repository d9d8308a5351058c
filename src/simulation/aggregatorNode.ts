import { Aggregator } from '../aggregator/aggregator.ts';
import { SqliteStore } from '../aggregator/store/sqliteStore.ts';
import type { SimulatedClock } from '../time/simulatedClock.ts';
import { ProcessClock } from './processClock.ts';
import type { Random } from './random.ts';
import type { Task, TaskSource } from './scheduler.ts';
import type { SimulatedNetwork } from './simulatedNetwork.ts';

/**
 * The aggregator machine: the real `Aggregator` on the real SQLite store. The store (SQLite in memory)
 * outlives the process, as the store file does: a committed transaction survives a process crash
 * (README: WAL, synchronous=NORMAL; a power loss, which may take back the last commits, is not
 * simulated). The group commit does not run after the turn by itself: it waits, as a task, until the
 * scheduler picks it, so frames, closes and timers can come before or after it.
 */
export class AggregatorNode implements TaskSource {
  readonly store = new SqliteStore(':memory:');
  private clock: ProcessClock | undefined;
  private current: Aggregator | undefined;
  private flush: (() => void) | undefined;
  incarnation = 0;

  constructor(
    private readonly world: { clock: SimulatedClock; network: SimulatedNetwork },
    private readonly random: Random,
    private readonly abandonAfterMs: number,
    /** Told when a new aggregator process is up. */
    private readonly started: () => void = () => {},
  ) {}

  get aggregator(): Aggregator | undefined {
    return this.current;
  }

  start(): void {
    if (this.current) return;
    this.incarnation++;
    const clock = new ProcessClock(this.world.clock);
    this.clock = clock;
    this.current = new Aggregator({
      store: this.store,
      clock,
      random: this.random.fn,
      abandonAfterMs: this.abandonAfterMs,
      commandTimeoutMs: 10_000,
      groupCommitSchedule: (flush) => {
        this.flush = flush;
        return () => {
          if (this.flush === flush) this.flush = undefined;
        };
      },
    });
    this.world.network.listen(this.current);
    this.started();
  }

  /** The process dies: no more timers, no commit of what was pending, every link reset. */
  kill(): void {
    if (!this.current) return;
    this.clock?.kill();
    this.flush = undefined;
    this.world.network.listen(undefined);
    this.world.network.killAggregatorSide();
    this.current = undefined;
  }

  tasks(_now: number, out: Task[]): void {
    const flush = this.flush;
    if (flush)
      out.push({
        label: 'group commit',
        run: () => {
          this.flush = undefined;
          flush();
        },
      });
  }
}
