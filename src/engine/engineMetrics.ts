import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { GAP_REASONS } from '../protocol/records.ts';
import type { ResilientDispatcher } from './resilientDispatcher.ts';
import { ENGINE_LINK_STATES } from './resilientDispatcherOptions.ts';

/** Where an engine's metrics go. */
export interface EngineMetricsOptions {
  /** The registry to register them in (yours, to serve them with your own). Default: a new one. */
  registry?: Registry;
}

/** Buckets of the durable outbox's sync latency, in seconds: 0.1 ms to 5 s. */
const SYNC_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * An engine's Prometheus metrics (prom-client): its outbox, its link and what it dropped. Values are read
 * from the dispatcher when scraped; counters follow its events. `engine --metrics-port` serves them.
 * Every name is in the README ("Metrics"); no label carries more than a fixed set of values.
 */
export class EngineMetrics {
  /** The registry the metrics are in: `await registry.metrics()` is the exposition text. */
  readonly registry: Registry;
  private readonly detach: Array<() => void> = [];

  constructor(dispatcher: ResilientDispatcher, options: EngineMetricsOptions = {}) {
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    const registers = [registry];
    const outbox = dispatcher.outbox;

    new Gauge({
      name: 'engine_link_engine_info',
      help: 'The engine this process is, and the epoch of its outbox (always 1)',
      labelNames: ['engine', 'epoch'],
      registers,
      collect() {
        this.reset();
        this.set({ engine: dispatcher.engineId, epoch: outbox.epoch }, 1);
      },
    });
    new Gauge({
      name: 'engine_link_outbox_records',
      help: 'Records held in the outbox, not yet acknowledged by the aggregator (gap markers included)',
      registers,
      collect() {
        this.set(outbox.records);
      },
    });
    new Gauge({
      name: 'engine_link_outbox_bytes',
      help: 'Encoded bytes held in the outbox',
      registers,
      collect() {
        this.set(outbox.bytes);
      },
    });
    new Gauge({
      name: 'engine_link_outbox_oldest_unacknowledged_age_seconds',
      help: 'How long the oldest record not yet acknowledged has waited (0 when none waits)',
      registers,
      collect() {
        this.set(dispatcher.backlogAgeMs / 1000);
      },
    });
    new Gauge({
      name: 'engine_link_outbox_last_seq',
      help: 'The last sequence number the outbox assigned (in the current epoch)',
      registers,
      collect() {
        this.set(outbox.lastSeq);
      },
    });
    new Gauge({
      name: 'engine_link_outbox_acknowledged_seq',
      help: 'The highest sequence number the aggregator acknowledged as persisted (in the current epoch)',
      registers,
      collect() {
        this.set(outbox.ackedSeq);
      },
    });
    new Gauge({
      name: 'engine_link_link_state',
      help: 'The link state machine: 1 for the current state, 0 for the others',
      labelNames: ['state'],
      registers,
      collect() {
        const current = dispatcher.state;
        for (const state of ENGINE_LINK_STATES) this.set({ state }, state === current ? 1 : 0);
      },
    });
    new Counter({
      name: 'engine_link_records_produced_total',
      help: 'Records accepted by send() in this process',
      registers,
      collect() {
        this.reset();
        this.inc(dispatcher.stats.produced);
      },
    });

    const retries = new Counter({
      name: 'engine_link_link_retries_total',
      help: 'Connection attempts scheduled after the link went down or failed to come up',
      registers,
    });
    const dropped = new Counter({
      name: 'engine_link_records_dropped_total',
      help: 'Records that will never reach the aggregator, by reason (overflow, coalesced, corrupt, unsynced, ...)',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of GAP_REASONS) dropped.inc({ reason }, 0);
    const syncs = new Histogram({
      name: 'engine_link_outbox_sync_duration_seconds',
      help: 'Durable outbox: time to write and fdatasync a batch of records',
      buckets: SYNC_BUCKETS,
      registers,
    });
    const onRetry = () => retries.inc();
    const onGap = (gap: { count: number; reason: string }) => dropped.inc({ reason: gap.reason }, gap.count);
    const onSynced = (_seq: number, sync?: { durationMs: number }) => {
      if (sync) syncs.observe(sync.durationMs / 1000);
    };
    dispatcher.on('retry', onRetry);
    dispatcher.on('gap', onGap);
    outbox.on('synced', onSynced);
    this.detach.push(
      () => dispatcher.off('retry', onRetry),
      () => dispatcher.off('gap', onGap),
      () => outbox.off('synced', onSynced),
    );
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** Stops following the dispatcher's events (the metrics stay registered). */
  close(): void {
    for (const detach of this.detach.splice(0)) detach();
  }
}
