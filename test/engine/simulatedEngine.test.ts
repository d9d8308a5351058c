import { afterEach, describe, expect, it } from 'vitest';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import {
  PHASE_PAUSED_OFFLINE,
  SimulatedEngine,
  type SimulatedRunEvent,
} from '../../src/engine/simulatedEngine.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';

/**
 * The simulated engine's methods and the outage pause (`--max-offline`): a method paused because the link
 * has been down too long waits out the pause and runs its full length; an operator's pause is the
 * operator's to lift. Its records go to a real dispatcher (with no aggregator: they wait in its outbox).
 */
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function setup(runSeconds: number) {
  const clock = new SimulatedClock();
  const dispatcher = new ResilientDispatcher({
    engineId: 'sim',
    connector: new MemoryNetwork({ clock }),
    clock,
  });
  const runs: SimulatedRunEvent[] = [];
  const engine = new SimulatedEngine(dispatcher, {
    rate: 10,
    runSeconds,
    clock,
    onRun: (run) => runs.push(run),
  });
  cleanups.push(async () => {
    engine.stop();
    await dispatcher.close();
  });
  return { clock, engine, runs, phase: () => engine.runs.currentRun?.phase };
}

describe('SimulatedEngine', () => {
  it('pauses its running method while the link is down too long; the method then runs its full length', async () => {
    const { clock, engine, runs, phase } = setup(10);
    engine.start();
    await clock.advance(4000);
    engine.pauseForOutage();
    expect(phase()).toBe(PHASE_PAUSED_OFFLINE);
    await clock.advance(30_000);
    expect(runs.map((r) => r.event)).toEqual(['started']);
    engine.resumeAfterOutage();
    expect(phase()).toBe('running');
    await clock.advance(5999);
    expect(runs.map((r) => r.event)).toEqual(['started']);
    await clock.advance(1);
    expect(runs.map((r) => r.event)).toEqual(['started', 'completed']);
    expect(runs[1]!.t - runs[0]!.t).toBe(10_000 + 30_000);
  });

  it("leaves an operator's pause alone, and has nothing to pause without a run", async () => {
    const { clock, engine, phase } = setup(0);
    engine.start();
    engine.pauseForOutage();
    engine.resumeAfterOutage();
    expect(engine.runs.currentRun).toBeNull();
    engine.handleCommand({ id: 'c1', name: 'start', args: {} });
    engine.handleCommand({ id: 'c2', name: 'pause', args: {} });
    engine.pauseForOutage();
    engine.resumeAfterOutage();
    expect(phase()).toBe('paused');
    engine.handleCommand({ id: 'c3', name: 'resume', args: {} });
    // A method started by command has no scheduled end, before a pause or after it.
    await clock.advance(60_000);
    expect(phase()).toBe('running');
  });
});
