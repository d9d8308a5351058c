import { EventEmitter } from 'eventemitter3';
import type { Aggregator } from '../aggregator/aggregator.ts';
import type { StoredRecord } from '../aggregator/store/recordStore.ts';
import type { Json } from '../protocol/records.ts';
import type { Clock, TimerHandle } from '../time/clock.ts';
import { checkDuration } from '../time/timerBounds.ts';

/**
 * Recent values of one tag, oldest first: `[engine time (ms), value]`, at most one point per
 * `bucketMs` of engine time (the latest sample in it) over the last `windowMs`.
 */
export interface TagSeries {
  unit?: string;
  points: Array<[t: number, value: number]>;
}

/** The newest value of a state key (such as `hardware.pump`: `{ state, connection }`). */
export interface StateValue {
  seq: number;
  /** Engine time. */
  t: number;
  value: Json | undefined;
}

/** What the dashboard plots and shows for one engine. */
export interface EngineTelemetry {
  engineId: string;
  epoch: string | null;
  /** The engine's counters when this was read (they move with every frame, with no event of their own). */
  persistedSeq: number;
  persistedCount: number;
  lastSeenAt: number | null;
  tags: Record<string, TagSeries>;
  states: Record<string, StateValue>;
}

/** New points and changed states since the last update of an engine, with its counters now. */
export type TelemetryUpdate = EngineTelemetry;

export interface TelemetryFeedOptions {
  aggregator: Aggregator;
  /** Engine time kept per tag, up to its newest sample. Default 60 000 ms. */
  windowMs?: number;
  /** One point per this much engine time (the latest sample in it). Default 200 ms: 300 points a minute. */
  bucketMs?: number;
  /** Tags kept per engine (the first seen). Default 12. */
  maxTags?: number;
  /** At most this many of the newest records are read per engine and update: older ones are not plotted. Default 2000. */
  tailRecords?: number;
  /** Least time between two updates of an engine. Default 500 ms. */
  intervalMs?: number;
  /** Default: the aggregator's clock. */
  clock?: Clock;
}

interface EngineState {
  epoch: string | null;
  /** Records up to this sequence number of `epoch` have been looked at. */
  cursor: number;
  tags: Map<string, TagSeries>;
  states: Map<string, StateValue>;
}

export interface TelemetryFeedEvents {
  update: [update: TelemetryUpdate];
  /** A timed read of the store failed (PostgreSQL away, say); the next update reads again. */
  error: [error: unknown];
}

/**
 * Adds a point, or replaces the last one when both fall in the same `bucketMs` of engine time (the
 * page merges updates by the same rule, so both keep the same points).
 */
export function addPoint(series: TagSeries, t: number, value: number, bucketMs: number): void {
  const last = series.points.at(-1);
  if (last && Math.floor(last[0] / bucketMs) === Math.floor(t / bucketMs)) {
    last[0] = t;
    last[1] = value;
  } else series.points.push([t, value]);
}

function plottable(value: Json | undefined): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return undefined;
}

/**
 * The dashboard's view of what engines measure: the recent samples of each tag and the newest value of
 * each state key, read back from the store as records are persisted. Persisted records only mark an
 * engine as changed; while anyone listens, changed engines are read at most every `intervalMs`, and only
 * their newest `tailRecords` records (states are read over the whole range, so a hardware state change
 * replayed in a large backlog is never missed).
 */
export class TelemetryFeed extends EventEmitter<TelemetryFeedEvents> {
  private readonly aggregator: Aggregator;
  private readonly windowMs: number;
  private readonly bucketMs: number;
  private readonly maxTags: number;
  private readonly tailRecords: number;
  private readonly intervalMs: number;
  private readonly clock: Clock;
  private readonly engines = new Map<string, EngineState>();
  private readonly dirty = new Set<string>();
  private timer: TimerHandle | undefined;
  private closed = false;
  /** Reads of the store, one after another (each moves an engine's cursor). */
  private reading: Promise<unknown> = Promise.resolve();

  constructor(options: TelemetryFeedOptions) {
    super();
    this.aggregator = options.aggregator;
    this.windowMs = options.windowMs ?? 60_000;
    this.bucketMs = options.bucketMs ?? 200;
    this.maxTags = options.maxTags ?? 12;
    this.tailRecords = options.tailRecords ?? 2000;
    checkDuration('intervalMs', options.intervalMs, 1);
    this.intervalMs = options.intervalMs ?? 500;
    this.clock = options.clock ?? options.aggregator.clock;
    this.aggregator.on('persisted', this.onPersisted);
  }

  /** Every known engine's telemetry, brought up to date first. */
  snapshot(): Promise<EngineTelemetry[]> {
    return this.serially(async () => {
      const views: EngineTelemetry[] = [];
      for (const { id } of this.aggregator.engines()) {
        await this.catchUp(id);
        views.push(this.view(id));
      }
      return views;
    });
  }

  /** One engine's telemetry, brought up to date first; undefined for an engine never seen. */
  engine(engineId: string): Promise<EngineTelemetry | undefined> {
    return this.serially(async () => {
      if (!this.aggregator.engine(engineId)) return undefined;
      await this.catchUp(engineId);
      return this.view(engineId);
    });
  }

  /** Runs `read` after the reads before it (each moves an engine's cursor, so they never overlap). */
  private serially<T>(read: () => Promise<T>): Promise<T> {
    const result = this.reading.then(read);
    this.reading = result.catch(() => {});
    return result;
  }

  /** Listens for updates; the feed reads the store only while someone listens. Returns the unsubscriber. */
  subscribe(listener: (update: TelemetryUpdate) => void): () => void {
    this.on('update', listener);
    this.schedule();
    return () => {
      this.off('update', listener);
    };
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.aggregator.off('persisted', this.onPersisted);
    this.removeAllListeners();
  }

  private readonly onPersisted = ({ engineId }: { engineId: string }): void => {
    this.dirty.add(engineId);
    this.schedule();
  };

  private schedule(): void {
    if (this.closed || this.timer || this.listenerCount('update') === 0 || this.dirty.size === 0) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.serially(() => this.flush()).catch((error) => this.emit('error', error));
    }, this.intervalMs);
  }

  private async flush(): Promise<void> {
    if (this.closed || this.listenerCount('update') === 0) return;
    const engineIds = [...this.dirty];
    this.dirty.clear();
    for (const engineId of engineIds) {
      const update = await this.refresh(engineId);
      if (update && !this.closed) this.emit('update', update);
    }
    this.schedule();
  }

  /** Brings one engine up to date now; listeners get what changed, as from a timed update. */
  private async catchUp(engineId: string): Promise<void> {
    this.dirty.delete(engineId);
    const update = await this.refresh(engineId);
    if (update) this.emit('update', update);
  }

  /** Reads what the store holds beyond the engine's cursor; returns what changed (undefined: nothing new persisted). */
  private async refresh(engineId: string): Promise<TelemetryUpdate | undefined> {
    const view = this.aggregator.engine(engineId);
    let state = this.engines.get(engineId);
    if (!state) {
      state = { epoch: null, cursor: 0, tags: new Map(), states: new Map() };
      this.engines.set(engineId, state);
    }
    if (!view?.epoch) return undefined;
    if (state.epoch !== view.epoch) {
      // A new epoch (the engine restarted) numbers its records from 1 again.
      state.epoch = view.epoch;
      state.cursor = 0;
    }
    const mark = view.persistedSeq;
    if (mark <= state.cursor) return undefined;
    const store = this.aggregator.store;
    const epoch = view.epoch;
    const update: TelemetryUpdate = {
      engineId,
      epoch,
      persistedSeq: mark,
      persistedCount: view.persistedCount,
      lastSeenAt: view.lastSeenAt,
      tags: {},
      states: {},
    };
    for (const record of await store.latestStates(engineId, { epoch, afterSeq: state.cursor })) {
      const value: StateValue = { seq: record.seq, t: record.t, value: record.value };
      state.states.set(record.key, value);
      update.states[record.key] = value;
    }
    const from = Math.max(state.cursor, mark - this.tailRecords);
    const records = await store.records(engineId, { epoch, afterSeq: from, limit: this.tailRecords });
    for (const record of records) if (record.kind === 'sample') this.addSample(state, update, record);
    for (const series of state.tags.values()) this.trim(series);
    for (const fresh of Object.values(update.tags)) this.trim(fresh);
    state.cursor = Math.max(mark, records.at(-1)?.seq ?? 0);
    return update;
  }

  private addSample(state: EngineState, update: TelemetryUpdate, record: StoredRecord): void {
    const value = plottable(record.value);
    if (value === undefined) return;
    let series = state.tags.get(record.key);
    if (!series) {
      if (state.tags.size >= this.maxTags) return;
      series = { points: [] };
      if (record.unit !== undefined) series.unit = record.unit;
      state.tags.set(record.key, series);
    }
    const last = series.points.at(-1);
    // The plot runs forward in engine time: a sample older than the newest plotted is left out.
    if (last && record.t < last[0]) return;
    addPoint(series, record.t, value, this.bucketMs);
    let fresh = update.tags[record.key];
    if (!fresh) {
      fresh = { points: [] };
      if (series.unit !== undefined) fresh.unit = series.unit;
      update.tags[record.key] = fresh;
    }
    addPoint(fresh, record.t, value, this.bucketMs);
  }

  /** Forgets points older than the window before the series' newest. */
  private trim(series: TagSeries): void {
    const newest = series.points.at(-1)?.[0];
    if (newest === undefined) return;
    const keepFrom = series.points.findIndex(([t]) => t >= newest - this.windowMs);
    if (keepFrom > 0) series.points.splice(0, keepFrom);
  }

  private view(engineId: string): EngineTelemetry {
    const state = this.engines.get(engineId);
    const tags: Record<string, TagSeries> = {};
    const states: Record<string, StateValue> = {};
    for (const [tag, series] of state?.tags ?? [])
      tags[tag] = { ...series, points: series.points.map((p) => [p[0], p[1]]) };
    for (const [key, value] of state?.states ?? []) states[key] = { ...value };
    const view = this.aggregator.engine(engineId);
    return {
      engineId,
      epoch: state?.epoch ?? null,
      persistedSeq: view?.persistedSeq ?? 0,
      persistedCount: view?.persistedCount ?? 0,
      lastSeenAt: view?.lastSeenAt ?? null,
      tags,
      states,
    };
  }
}
