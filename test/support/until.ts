import { type SimulatedClock, settle } from '../../src/time/simulatedClock.ts';

/**
 * Drives simulated time in small steps (or, without a clock, lets queued work run, `turns` turns of the
 * event loop at a time) until `condition` holds. Fails with `what` when it does not hold within
 * `maxSteps`: no wall-clock waiting involved.
 */
export async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  clock?: SimulatedClock,
  { stepMs = 10, maxSteps = 20_000, turns = 5 } = {},
): Promise<void> {
  for (let step = 0; step < maxSteps; step++) {
    if (await condition()) return;
    if (clock) await clock.advance(stepMs);
    else await settle(turns);
  }
  if (!(await condition())) throw new Error(`timed out waiting until ${what}`);
}

/** Resolves with the first event of `name` whose payload satisfies `test` (real-time tests over ws). */
// biome-ignore lint/suspicious/noExplicitAny: any typed emitter (eventemitter3 or node:events) will do
type Listenable = { on(name: any, fn: any): unknown; off(name: any, fn: any): unknown };

export function nextEvent<T>(
  emitter: Listenable,
  name: string,
  test: (value: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve) => {
    const listener = (value: T) => {
      if (!test(value)) return;
      emitter.off(name, listener);
      resolve(value);
    };
    emitter.on(name, listener);
  });
}
