import type { GapInfo, Outbox } from '../engine/outbox/outbox.ts';
import { INVARIANTS, type Violations } from './violations.ts';

/** One epoch of an engine as the engine itself accounts for it. */
export interface EpochAccount {
  /** Items handed out and not yet checked against the store, by sequence number. */
  readonly items: Map<number, string>;
  /** Ranges the engine reported as gaps (overflow, unsynced, corrupt...). */
  readonly gaps: Array<{ fromSeq: number; toSeq: number }>;
  /** Everything up to here was found in the store as it should be. */
  verified: number;
  /** The highest sequence number handed out. */
  lastSeq: number;
}

/**
 * The engine's own account of what it produced: every item its outbox numbered (the simulation wraps
 * `append`, `appendGap` and `acknowledge` on the outbox instance, so records the outbox makes itself,
 * such as `outbox.disk-unavailable`, are counted too), and every gap it reported (gap events, the
 * durable outbox's recovery). The invariants compare the store with this, never with the code's state.
 */
export class EngineAccount {
  readonly epochs = new Map<string, EpochAccount>();
  /** Epochs in the order the engine started them. */
  readonly order: string[] = [];

  constructor(
    readonly engineId: string,
    private readonly violations: Violations,
  ) {}

  epoch(epoch: string): EpochAccount {
    let account = this.epochs.get(epoch);
    if (!account) {
      account = { items: new Map(), gaps: [], verified: 0, lastSeq: 0 };
      this.epochs.set(epoch, account);
      this.order.push(epoch);
    }
    return account;
  }

  appended(epoch: string, seq: number, item: string): void {
    const account = this.epoch(epoch);
    // (Not `seq <= lastSeq`: a record the outbox makes inside an append is told before the outer one.)
    if (account.items.has(seq) || seq <= account.verified)
      this.violations.report(
        INVARIANTS.seqReused,
        `${this.engineId} epoch ${epoch}: seq ${seq} handed out again (${account.items.get(seq) ?? 'checked already'}, now ${item})`,
      );
    account.items.set(seq, item);
    account.lastSeq = Math.max(account.lastSeq, seq);
  }

  gapReported(epoch: string, gap: { fromSeq: number; toSeq: number }): void {
    const account = this.epoch(epoch);
    account.gaps.push({ fromSeq: gap.fromSeq, toSeq: gap.toSeq });
    account.lastSeq = Math.max(account.lastSeq, gap.toSeq);
  }

  reportedGap(epoch: string, seq: number): boolean {
    return this.epoch(epoch).gaps.some((gap) => gap.fromSeq <= seq && seq <= gap.toSeq);
  }

  /**
   * Takes into the account what an outbox numbered before it could be watched (a durable outbox's
   * constructor may number a gap for what a crash lost, and an `outbox.disk-unavailable` record).
   */
  adopt(outbox: Outbox): void {
    const epoch = outbox.epoch;
    let after = this.epoch(epoch).lastSeq;
    while (after < outbox.lastSeq) {
      const batch = outbox.nextBatch(after);
      if (!batch || batch.to <= after) break;
      let seq = batch.from;
      for (const item of JSON.parse(`[${batch.text}]`) as unknown[][]) {
        if (item[0] === 'g') {
          const toSeq = item[2] as number;
          this.gapReported(epoch, { fromSeq: item[1] as number, toSeq });
          seq = toSeq + 1;
        } else if (seq > this.epoch(epoch).lastSeq) this.appended(epoch, seq++, JSON.stringify(item));
        else seq++;
      }
      after = batch.to;
    }
  }

  /**
   * Wraps an outbox so that what it numbers, the gaps it reports and the acknowledgements it takes are
   * seen here (`acknowledged` is told before the outbox forgets anything).
   */
  watch(outbox: Outbox, acknowledged: (epoch: string, seq: number) => void): void {
    const epoch = outbox.epoch;
    this.epoch(epoch);
    const append = outbox.append.bind(outbox);
    outbox.append = (item, recordClass, stateKey) => {
      const seq = append(item, recordClass, stateKey);
      // 0: not numbered yet (a durable outbox whose meta file fails): told when it is, through `append`.
      if (seq !== 0) this.appended(epoch, seq, item);
      return seq;
    };
    const appendGap = outbox.appendGap.bind(outbox);
    outbox.appendGap = (fromSeq, toSeq, count, reason) => {
      appendGap(fromSeq, toSeq, count, reason);
      this.gapReported(epoch, { fromSeq, toSeq });
    };
    outbox.on('gap', (gap: GapInfo) => this.gapReported(epoch, gap));
    const acknowledge = outbox.acknowledge.bind(outbox);
    outbox.acknowledge = (seq) => {
      acknowledged(epoch, seq);
      acknowledge(seq);
    };
  }
}
