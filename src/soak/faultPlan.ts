import type { SeededRandom } from './seededRandom.ts';

/** Faults on one engine's link, through its fault proxy on loopback. */
export type LinkFaultKind = 'cut' | 'close' | 'blackhole' | 'stall' | 'delay' | 'trickle' | 'refuse';
/** Faults of processes: SIGKILL, then a restart (PostgreSQL's server, when the store is PostgreSQL). */
export type ProcessFaultKind = 'kill-engine' | 'kill-aggregator' | 'kill-postgres';
export type FaultKind = LinkFaultKind | ProcessFaultKind;

export interface PlannedFault {
  /** Ms after the start of the soak. */
  at: number;
  kind: FaultKind;
  /** Engine index (link faults and engine kills). */
  engine?: number;
  /** Node index of a fleet (aggregator kills, with more than one node). */
  node?: number;
  /** How long the fault lasts (ms); for kills, how long the process stays dead. */
  durationMs: number;
  /** delay: ms added; trickle: bytes per second. */
  amount?: number;
}

export const FAULT_WEIGHTS: Readonly<Record<FaultKind, number>> = {
  cut: 3,
  close: 1,
  blackhole: 3,
  stall: 2,
  delay: 2,
  trickle: 2,
  refuse: 1,
  'kill-engine': 3,
  'kill-aggregator': 1.5,
  'kill-postgres': 0,
};

/** With a PostgreSQL store the soak manages: its server is killed too, as often as the aggregator. */
export const POSTGRES_FAULT_WEIGHTS: Readonly<Record<FaultKind, number>> = {
  ...FAULT_WEIGHTS,
  'kill-postgres': 1.5,
};

export interface PlanOptions {
  durationMs: number;
  engines: number;
  /** Mean time between two faults (ms). */
  meanGapMs: number;
  /** No fault starts before this (ms): the engines are starting. */
  warmupMs?: number;
  /** Also SIGKILL (and restart) PostgreSQL's server. Default: false. */
  postgres?: boolean;
  /** Aggregator nodes of a fleet (default 1): each aggregator kill names one, never one already down. */
  nodes?: number;
}

/**
 * The soak's faults, drawn from the seed: start times (exponential gaps), kinds (by `FAULT_WEIGHTS`),
 * targets and durations. A link carries one lasting fault at a time, a dead process is not killed again
 * before it is back, and every fault is over by `durationMs`.
 */
export function planFaults(random: SeededRandom, options: PlanOptions): PlannedFault[] {
  const nodes = options.nodes ?? 1;
  const plan: PlannedFault[] = [];
  const linkBusyUntil = new Array<number>(options.engines).fill(0);
  const engineBusyUntil = new Array<number>(options.engines).fill(0);
  const nodeBusyUntil = new Array<number>(nodes).fill(0);
  let postgresBusyUntil = 0;
  const base = options.postgres ? POSTGRES_FAULT_WEIGHTS : FAULT_WEIGHTS;
  // A fleet's nodes are each killed as often as a lone aggregator is.
  const weights = nodes > 1 ? { ...base, 'kill-aggregator': base['kill-aggregator'] * nodes } : base;
  let at = options.warmupMs ?? 3000;
  for (;;) {
    at += -Math.log(1 - random.next()) * options.meanGapMs;
    if (at >= options.durationMs) break;
    const kind = random.weighted(weights);
    const engine = random.int(0, options.engines - 1);
    const left = options.durationMs - at;
    switch (kind) {
      case 'kill-aggregator': {
        // With one aggregator no node is drawn (a seed's plan stays what it was).
        const node = nodes > 1 ? random.int(0, nodes - 1) : 0;
        if (at < nodeBusyUntil[node]!) continue;
        const durationMs = Math.min(left, random.between(100, 4000));
        // Restarting takes a second or two beyond the dead time.
        nodeBusyUntil[node] = at + durationMs + 3000;
        plan.push({ at, kind, durationMs, ...(nodes > 1 ? { node } : {}) });
        continue;
      }
      case 'kill-postgres': {
        if (at < postgresBusyUntil) continue;
        const durationMs = Math.min(left, random.between(100, 4000));
        // Recovery from the WAL takes a moment beyond the dead time.
        postgresBusyUntil = at + durationMs + 3000;
        plan.push({ at, kind, durationMs });
        continue;
      }
      case 'kill-engine': {
        if (at < engineBusyUntil[engine]!) continue;
        const durationMs = Math.min(left, random.between(100, 3000));
        engineBusyUntil[engine] = at + durationMs + 3000;
        plan.push({ at, kind, engine, durationMs });
        continue;
      }
      case 'cut':
      case 'close':
        plan.push({ at, kind, engine, durationMs: 0 });
        continue;
      default: {
        if (at < linkBusyUntil[engine]!) continue;
        const durationMs = Math.min(left, lasting(random, kind));
        linkBusyUntil[engine] = at + durationMs;
        const amount =
          kind === 'delay'
            ? Math.round(random.between(20, 800))
            : kind === 'trickle'
              ? Math.round(random.between(500, 16_000))
              : undefined;
        plan.push({ at, kind, engine, durationMs, ...(amount === undefined ? {} : { amount }) });
      }
    }
  }
  return plan;
}

function lasting(random: SeededRandom, kind: LinkFaultKind): number {
  switch (kind) {
    case 'blackhole':
      return random.between(1000, 7000);
    case 'stall':
      return random.between(300, 5000);
    case 'refuse':
      return random.between(500, 4000);
    default:
      return random.between(1000, 8000);
  }
}
