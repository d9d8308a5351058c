import { createHash, type Hash } from 'node:crypto';

/**
 * What happened, step by step: every line goes into a running SHA-256 (the trace hash: the same seed
 * gives the same hash, or the simulation is not deterministic) and the last `keep` lines are kept to be
 * shown when an invariant fails.
 */
export class Trace {
  private readonly hash: Hash = createHash('sha256');
  private readonly recent: string[] = [];
  private next = 0;
  lines = 0;

  constructor(private readonly keep = 40) {}

  add(line: string): void {
    this.hash.update(line);
    this.hash.update('\n');
    this.lines++;
    if (this.recent.length < this.keep) this.recent.push(line);
    else {
      this.recent[this.next] = line;
      this.next = (this.next + 1) % this.keep;
    }
  }

  /** The last lines, oldest first. */
  last(): string[] {
    return [...this.recent.slice(this.next), ...this.recent.slice(0, this.next)];
  }

  /** The hash of every line so far (the first 16 hex digits are plenty to compare runs). */
  digest(): string {
    return this.hash.copy().digest('hex').slice(0, 16);
  }
}
