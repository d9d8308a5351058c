/**
 * When records entered the outbox, coarsely: enough to tell how long the oldest record not yet
 * acknowledged has waited, in bounded memory. It keeps marks (the first sequence number appended in a
 * time slot, and the slot's start); a record is at most as old as the last mark at or before it, so the
 * age it gives is an upper bound, off by at most a slot. Past `maxMarks` every other mark is dropped,
 * which keeps the bound (slots only grow): memory stays flat through an outage of any length.
 */
export class BacklogAge {
  private readonly seqs: number[] = [];
  private readonly times: number[] = [];

  constructor(
    /** The shortest slot (ms). */
    private readonly slotMs = 100,
    private readonly maxMarks = 4096,
  ) {}

  /** Record `seq` entered the outbox at `now` (called in sequence order). */
  appended(seq: number, now: number): void {
    const last = this.times.length - 1;
    if (last >= 0 && now - this.times[last]! < this.slotMs) return;
    this.seqs.push(seq);
    this.times.push(now);
    if (this.seqs.length > this.maxMarks) this.thin();
  }

  /**
   * How long the record `oldestSeq` (the first not acknowledged) has waited at `now`, in ms: 0 when it
   * has not been appended yet (nothing waits). Records appended before the first mark (a durable outbox's
   * backlog from an earlier process) count from the first mark.
   */
  ageMs(oldestSeq: number, lastSeq: number, now: number): number {
    // Marks wholly acknowledged go: the first one kept is the last at or before `oldestSeq`.
    let drop = 0;
    while (drop + 1 < this.seqs.length && this.seqs[drop + 1]! <= oldestSeq) drop++;
    if (drop > 0) {
      this.seqs.splice(0, drop);
      this.times.splice(0, drop);
    }
    if (oldestSeq > lastSeq || this.times.length === 0) return 0;
    return Math.max(0, now - this.times[0]!);
  }

  /** Marks held (for tests). */
  get marks(): number {
    return this.seqs.length;
  }

  private thin(): void {
    let kept = 0;
    for (let i = 0; i < this.seqs.length; i += 2) {
      this.seqs[kept] = this.seqs[i]!;
      this.times[kept] = this.times[i]!;
      kept++;
    }
    this.seqs.length = kept;
    this.times.length = kept;
  }
}
