import { UnknownEngineError } from '../aggregator/aggregator.ts';
import type { AggregatorNode } from './aggregatorNode.ts';
import type { EngineNode } from './engineNode.ts';
import type { Random } from './random.ts';
import { INVARIANTS, type Violations } from './violations.ts';

const COMMANDS = { start: 3, stop: 2, pause: 1, resume: 1, ping: 2 } as const;

/**
 * The people at the dashboard: they send commands through the aggregator's command gate (as the HTTP
 * API does), retry with the same id when the outcome is unknown (as README tells them to), and write
 * set-points to the engines' hardware.
 */
export class Operator {
  private next = 0;
  private writes = 0;
  /** Commands whose outcome is unknown, to be asked again with the same id. */
  private readonly unknown: Array<{ engine: EngineNode; id: string; name: string; args: unknown }> = [];
  readonly stats = { sent: 0, refused: 0, ok: 0, failed: 0, unknown: 0, timeout: 0, retried: 0 };

  constructor(
    private readonly random: Random,
    private readonly violations: Violations,
  ) {}

  /** Sends a command (or retries one), and returns what happened, for the trace. */
  command(aggregatorNode: AggregatorNode, engines: readonly EngineNode[]): string {
    const aggregator = aggregatorNode.aggregator;
    if (!aggregator) return 'no aggregator';
    const retry = this.unknown.length > 0 && this.random.chance(0.5);
    const request = retry
      ? this.unknown.splice(this.random.int(0, this.unknown.length - 1), 1)[0]!
      : this.newCommand(this.random.pick(engines));
    if (retry) this.stats.retried++;
    const { engine, id, name, args } = request;
    const view = aggregator.engine(engine.id);
    let answer: ReturnType<typeof aggregator.command>;
    try {
      answer = aggregator.command(engine.id, { id, name, args });
    } catch (error) {
      if (error instanceof UnknownEngineError) return `${id} ${name} → ${engine.id}: unknown engine`;
      throw error;
    }
    if (!(answer instanceof Promise)) {
      this.stats.refused++;
      return `${id} ${name} → ${engine.id}: refused (${answer.error})`;
    }
    if (view?.link !== 'available')
      this.violations.report(INVARIANTS.commandGate, `${id} to ${engine.id} accepted while ${view?.link}`);
    this.stats.sent++;
    engine.accepted.add(id);
    answer.then((outcome) => {
      if (outcome.status === 'outcome-unknown') {
        this.stats.unknown++;
        this.unknown.push(request);
      } else if (outcome.status === 'timeout') this.stats.timeout++;
      else this.stats[outcome.status]++;
    });
    return `${id} ${name} → ${engine.id}: accepted`;
  }

  /** A set-point write on one engine's hardware (values are unique, so they can be traced). */
  writeHardware(engine: EngineNode): string {
    const value = ++this.writes;
    engine.writeHardware(value);
    return `write ${value} → ${engine.id} hardware`;
  }

  private newCommand(engine: EngineNode) {
    const name = this.random.weighted(COMMANDS);
    const args = name === 'start' ? { method: `m${this.random.int(1, 3)}` } : undefined;
    return { engine, id: `cmd-${++this.next}`, name, args };
  }
}
