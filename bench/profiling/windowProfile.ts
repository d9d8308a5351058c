// A V8 CPU profile of a bench server's measuring window only (between `window-start` and `window-stop`),
// not of its start-up and connection storm: BENCH_CPU_PROF=<dir> turns it on. Written as
// <dir>/<name>-<pid>.cpuprofile (open it in Chrome DevTools or speedscope, or summarise it by stage with
// `npx tsx bench/profiling/stages.ts FILE`).
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

/** Sampling interval (µs): fine enough to see a stage costing a few µs per frame over seconds. */
const SAMPLING_INTERVAL_US = 100;

export class WindowProfile {
  private session: Session | undefined;

  constructor(
    /** Names the file: the server (and what it measures). */
    private readonly name: string,
    private readonly dir: string | undefined = process.env.BENCH_CPU_PROF,
  ) {}

  /** Starts profiling (again), when BENCH_CPU_PROF is set. */
  async start(): Promise<void> {
    if (!this.dir) return;
    if (!this.session) {
      this.session = new Session();
      this.session.connect();
      await this.session.post('Profiler.enable');
      await this.session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
    }
    await this.session.post('Profiler.start');
  }

  /**
   * Stops profiling and writes the profile, with `counts` (frames, records... of the window) beside it as
   * <file>.counts.json for the per-frame and per-record figures; answers its path (undefined when not
   * profiling).
   */
  async stop(counts: Record<string, number> = {}): Promise<string | undefined> {
    if (!this.dir || !this.session) return undefined;
    const { profile } = await this.session.post('Profiler.stop');
    mkdirSync(this.dir, { recursive: true });
    const file = join(this.dir, `${this.name}-${process.pid}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    writeFileSync(`${file}.counts.json`, JSON.stringify(counts));
    return file;
  }
}
