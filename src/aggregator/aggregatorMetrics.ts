import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ErrorCode } from '../protocol/errors.ts';
import { GAP_REASONS } from '../protocol/records.ts';
import type { Aggregator, AggregatorEvents, CommandOutcomeName } from './aggregator.ts';
import type { EngineAvailability } from './session/engineView.ts';

/** Where an aggregator's metrics go. */
export interface AggregatorMetricsOptions {
  /** The registry to register them in (yours, to serve them with your own). Default: a new one. */
  registry?: Registry;
}

const LINKS: readonly EngineAvailability[] = ['available', 'catching-up', 'unavailable', 'offline'];
const COMMAND_OUTCOMES: readonly CommandOutcomeName[] = [
  'ok',
  'failed',
  'timeout',
  'outcome-unknown',
  'engine-unavailable',
  'engine-catching-up',
  'unknown-engine',
];
/** Statuses an upgrade is refused with (anything else would be counted as `other`). */
const REFUSAL_STATUSES = ['400', '401', '403', '404', '503'];
const ERROR_CODES = new Set<string>(Object.values(ErrorCode));
/** Commit latency buckets, in seconds: 0.1 ms to 2.5 s. */
const COMMIT_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];
/** Frames per group commit. */
const GROUP_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/**
 * An aggregator's Prometheus metrics (prom-client): its engines (the engine id is the only per-engine
 * label), what it stored, its group commits, its commands and its links. Engine values are read from the
 * aggregator's views when scraped; the rest follows its events. `GET /metrics` serves them. Every name is
 * in the README ("Metrics").
 */
export class AggregatorMetrics {
  /** The registry the metrics are in: `await registry.metrics()` is the exposition text. */
  readonly registry: Registry;
  private readonly detach: Array<() => void> = [];

  constructor(aggregator: Aggregator, options: AggregatorMetricsOptions = {}) {
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    const registers = [registry];
    const views = () => aggregator.engines();

    new Gauge({
      name: 'engine_link_engines',
      help: 'Engines known to the aggregator, by link state',
      labelNames: ['link'],
      registers,
      collect() {
        const counts = new Map<string, number>(LINKS.map((link) => [link, 0]));
        for (const view of views()) counts.set(view.link, (counts.get(view.link) ?? 0) + 1);
        for (const [link, count] of counts) this.set({ link }, count);
      },
    });
    const perEngine = (
      name: string,
      help: string,
      value: (view: ReturnType<typeof views>[number]) => number | null,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['engine'],
        registers,
        collect() {
          this.reset();
          for (const view of views()) {
            const v = value(view);
            if (v !== null) this.set({ engine: view.id }, v);
          }
        },
      });
    perEngine(
      'engine_link_engine_persisted_seq',
      'Highest sequence number persisted for the engine (its current epoch)',
      (view) => view.persistedSeq,
    );
    perEngine(
      'engine_link_engine_target_seq',
      'The end of the engine backlog when it last said hello: catching up until persisted_seq reaches it',
      (view) => view.targetSeq,
    );
    perEngine(
      'engine_link_engine_seconds_since_last_seen',
      'Seconds since a frame of the engine was last received (absent: never)',
      (view) =>
        view.lastSeenAt === null ? null : Math.max(0, (aggregator.clock.now() - view.lastSeenAt) / 1000),
    );

    const total = (name: string, help: string, value: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value());
        },
      });
    total('engine_link_records_ingested_total', 'Records stored, over all engines and epochs', () =>
      views().reduce((sum, view) => sum + view.persistedCount, 0),
    );
    total(
      'engine_link_duplicates_ignored_total',
      'Records received again (after a reconnect) and ignored, over all engines',
      () => views().reduce((sum, view) => sum + view.duplicatesIgnored, 0),
    );
    const gapTotals = (measure: (gap: { count: number }) => number) =>
      function (this: Counter<'reason'>) {
        const sums = new Map<string, number>(GAP_REASONS.map((reason) => [reason, 0]));
        for (const view of views())
          for (const gap of view.gaps) sums.set(gap.reason, (sums.get(gap.reason) ?? 0) + measure(gap));
        this.reset();
        for (const [reason, sum] of sums) this.inc({ reason }, sum);
      };
    new Counter({
      name: 'engine_link_gaps_total',
      help: 'Gaps stored (ranges of sequence numbers that will never come), by reason',
      labelNames: ['reason'],
      registers,
      collect: gapTotals(() => 1),
    });
    new Counter({
      name: 'engine_link_gap_records_total',
      help: 'Records the stored gaps stand for, by reason',
      labelNames: ['reason'],
      registers,
      collect: gapTotals((gap) => gap.count),
    });

    const commitSeconds = new Histogram({
      name: 'engine_link_commit_duration_seconds',
      help: 'Wall time of one group commit (one SQLite transaction for the frames of one event-loop turn)',
      buckets: COMMIT_BUCKETS,
      registers,
    });
    const groupFrames = new Histogram({
      name: 'engine_link_commit_group_frames',
      help: 'Frames committed together in one group commit',
      buckets: GROUP_BUCKETS,
      registers,
    });
    const commitFailures = new Counter({
      name: 'engine_link_commit_failures_total',
      help: 'Group commits rolled back (a full disk, an I/O error); their frames are not acknowledged',
      registers,
    });
    const commands = new Counter({
      name: 'engine_link_commands_total',
      help: 'Commands by outcome: ok, failed, timeout, outcome-unknown; refused at once (409): engine-unavailable, engine-catching-up; unknown-engine',
      labelNames: ['outcome'],
      registers,
    });
    for (const outcome of COMMAND_OUTCOMES) commands.inc({ outcome }, 0);
    const reconnects = new Counter({
      name: 'engine_link_engine_reconnects_total',
      help: 'Links accepted from an engine the aggregator already knew (from its store or an earlier link)',
      labelNames: ['engine'],
      registers,
    });
    const refused = new Counter({
      name: 'engine_link_links_refused_total',
      help: 'Engine links refused at the upgrade, by HTTP status (400 id, 401 token, 503 engine limit, ...)',
      labelNames: ['status'],
      registers,
    });
    for (const status of REFUSAL_STATUSES) refused.inc({ status }, 0);
    const protocolErrors = new Counter({
      name: 'engine_link_protocol_errors_total',
      help: 'Frames answered with a protocol error, by error code',
      labelNames: ['code'],
      registers,
    });

    const known = new Set(views().map((view) => view.id));
    const on = <K extends keyof AggregatorEvents>(
      name: K,
      listener: (...args: AggregatorEvents[K]) => void,
    ) => {
      // biome-ignore lint/suspicious/noExplicitAny: eventemitter3's typed listeners, by event name
      aggregator.on(name, listener as any);
      // biome-ignore lint/suspicious/noExplicitAny: as above
      this.detach.push(() => aggregator.off(name, listener as any));
    };
    on('commit', (group) => {
      commitSeconds.observe(group.durationMs / 1000);
      groupFrames.observe(group.units);
      if (!group.ok) commitFailures.inc();
    });
    on('command', ({ outcome }) => commands.inc({ outcome }));
    on('connection', ({ engineId }) => {
      if (known.has(engineId)) reconnects.inc({ engine: engineId });
      else known.add(engineId);
    });
    on('refused', ({ status }) => {
      const label = String(status);
      refused.inc({ status: REFUSAL_STATUSES.includes(label) ? label : 'other' });
    });
    on('protocolError', ({ code }) => protocolErrors.inc({ code: ERROR_CODES.has(code) ? code : 'other' }));
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** Stops following the aggregator's events (the metrics stay registered). */
  close(): void {
    for (const detach of this.detach.splice(0)) detach();
  }
}
