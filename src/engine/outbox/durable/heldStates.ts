/**
 * The state records a durable outbox holds, by key: the latest sequence number of each key, and how many
 * held states a newer value of their key supersedes. The overflow policy coalesces those first.
 */
export class HeldStates {
  /** Held states that a newer value of their key supersedes (0 once the policy found none left). */
  superseded: number;
  private readonly latest: Map<string, number>;

  /** From what recovery found on disk. */
  constructor(latest: ReadonlyMap<string, number>, superseded: number) {
    this.latest = new Map(latest);
    this.superseded = superseded;
  }

  /** A state of `key` was appended at `seq` (everything up to `ackedSeq` is acknowledged). */
  appended(key: string, seq: number, ackedSeq: number): void {
    const previous = this.latest.get(key);
    if (previous !== undefined && previous > ackedSeq) this.superseded++;
    this.latest.set(key, seq);
  }

  /** Everything up to `seq` is acknowledged: keys last seen there are forgotten, once there are many. */
  acknowledged(seq: number): void {
    if (this.latest.size > 4096) for (const [key, at] of this.latest) if (at <= seq) this.latest.delete(key);
  }

  /** True when a newer value of the state `key` than the one at `seq` is held. */
  isSuperseded(key: string, seq: number): boolean {
    return (this.latest.get(key) ?? seq) > seq;
  }

  /** The policy coalesced `count` superseded states. */
  coalesced(count: number): void {
    this.superseded = Math.max(0, this.superseded - count);
  }
}
