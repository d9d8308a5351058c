import type { Clock, TimerHandle } from './clock.ts';

/**
 * A runtime's timers, by name, on its injected clock: at most one timer of each name runs; starting one
 * replaces (cancels) the one of that name before it. What every machine runtime used to keep by hand as
 * a record of handles.
 */
export class NamedTimers<Name extends string = string> {
  private readonly handles = new Map<Name, TimerHandle>();

  constructor(private readonly clock: Clock) {}

  /** Runs `callback` once, `ms` from now, under `name` (cancelling the timer of that name, if any). */
  start(name: Name, ms: number, callback: () => void): void {
    this.cancel(name);
    const handle = this.clock.setTimeout(() => {
      if (this.handles.get(name) === handle) this.handles.delete(name);
      callback();
    }, ms);
    this.handles.set(name, handle);
  }

  cancel(name: Name): void {
    this.handles.get(name)?.cancel();
    this.handles.delete(name);
  }

  cancelAll(): void {
    for (const handle of this.handles.values()) handle.cancel();
    this.handles.clear();
  }

  /** Whether a timer of this name is waiting. */
  has(name: Name): boolean {
    return this.handles.has(name);
  }
}
