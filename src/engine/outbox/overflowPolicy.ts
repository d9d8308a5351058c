import type { GapReason, Item } from '../../protocol/records.ts';
import type { GapInfo } from './outbox.ts';

/** An item held by an outbox, with the sequence number it starts at. */
export interface HeldItem {
  seq: number;
  item: Item;
}

export interface OverflowPolicyOptions {
  /** Drop samples (plain and thinned) too, not only superseded states. */
  dropSamples: boolean;
  /** True when a newer value of the state `key` than the one at `seq` is held. */
  isSuperseded: (key: string, seq: number) => boolean;
}

export interface OverflowPolicyResult {
  /** The survivors in order; each run of dropped records is replaced by one gap item. */
  kept: HeldItem[];
  /** What this pass dropped, at most one entry per reason (coalesced first), spanning its first to last drop. */
  dropped: GapInfo[];
  /** Samples and states among the survivors. */
  samples: number;
  states: number;
}

/**
 * The per-class overflow policy, applied to a run of held items: superseded states are coalesced, samples
 * are dropped when asked, events are never dropped. Each run of consecutive dropped sequence numbers (gap
 * items already held included, when they continue it with the same reason) becomes one gap item, so the
 * aggregator learns the exact range and count of what will never come.
 */
export function applyOverflowPolicy(
  held: readonly HeldItem[],
  { dropSamples, isSuperseded }: OverflowPolicyOptions,
): OverflowPolicyResult {
  const kept: HeldItem[] = [];
  const dropped: Record<'coalesced' | 'overflow', GapInfo | undefined> = {
    coalesced: undefined,
    overflow: undefined,
  };
  let run: { from: number; to: number; count: number; reason: GapReason } | undefined;
  let samples = 0;
  let states = 0;
  const flush = () => {
    if (run) kept.push({ seq: run.from, item: ['g', run.from, run.to, run.count, run.reason] });
    run = undefined;
  };
  const extend = (from: number, to: number, count: number, reason: GapReason) => {
    if (run && run.reason === reason && run.to + 1 === from) {
      run.to = to;
      run.count += count;
    } else {
      flush();
      run = { from, to, count, reason };
    }
  };
  for (const { seq, item } of held) {
    const kind = item[0];
    if (kind === 'g') {
      extend(item[1], item[2], item[3], item[4]);
      continue;
    }
    const isSample = kind === 's' || kind === 'f';
    const drop = (kind === 'st' && isSuperseded(item[1], seq)) || (isSample && dropSamples);
    if (drop) {
      const reason = isSample ? 'overflow' : 'coalesced';
      extend(seq, seq, 1, reason);
      const info = dropped[reason];
      if (info) {
        info.toSeq = seq;
        info.count++;
      } else dropped[reason] = { fromSeq: seq, toSeq: seq, count: 1, reason };
    } else {
      flush();
      kept.push({ seq, item });
      if (isSample) samples++;
      else if (kind === 'st') states++;
    }
  }
  flush();
  return {
    kept,
    dropped: [dropped.coalesced, dropped.overflow].filter((info): info is GapInfo => info !== undefined),
    samples,
    states,
  };
}
