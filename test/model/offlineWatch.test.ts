import { expect, it } from 'vitest';
import { describeModelOf } from './support/modelSuite.ts';

/**
 * Model-based test of the offline watch: paths generated from machines/offlineWatch.ts that together take
 * every transition, driven through the real ResilientDispatcher with `maxOfflineMs`
 * (runtimes/offlineWatchRuntime.ts). After each step: the transitions the watch's own actor took, what
 * the dispatcher told (`offlineTooLong` once per outage, `onlineAgain` after it), and that nothing more
 * is told once it is closed.
 */
await describeModelOf(async () => {
  const { offlineWatchMachine } = await import('../../machines/offlineWatch.ts');
  const { offlineWatchHarness } = await import('./runtimes/offlineWatchRuntime.ts');
  const { negativeSteps, transitionCoveringPaths } = await import('./support/index.ts');
  const paths = transitionCoveringPaths(offlineWatchMachine, []);
  return { harness: offlineWatchHarness, paths, negatives: negativeSteps(offlineWatchMachine, paths, []) };
});

it('is told once per outage, however long it lasts, and not at all with no limit', async () => {
  const { offlineWatchHarness: harness, MAX_OFFLINE_MS } = await import('./runtimes/offlineWatchRuntime.ts');
  const { RuntimeRecorder } = await import('./support/runtimeRecorder.ts');
  const { ResilientDispatcher } = await import('../../src/engine/resilientDispatcher.ts');
  const rt = await harness.start(new RuntimeRecorder(harness.machine), {
    name: '',
    initial: '',
    steps: [],
    covers: [],
  });
  await rt.clock.advance(10 * MAX_OFFLINE_MS);
  expect(rt.told.map((t) => t.event)).toEqual(['offlineTooLong']);
  await harness.cause(rt, { type: 'LINK_UP' });
  await harness.cause(rt, { type: 'LINK_DOWN' });
  await rt.clock.advance(MAX_OFFLINE_MS - 1000);
  await harness.cause(rt, { type: 'LINK_UP' });
  expect(rt.told.map((t) => t.event)).toEqual(['offlineTooLong', 'onlineAgain']);

  const unlimited = new ResilientDispatcher({ engineId: 'free', connector: rt.network, clock: rt.clock });
  let told = 0;
  unlimited.on('offlineTooLong', () => told++);
  rt.network.refuseConnects();
  await rt.clock.advance(10 * MAX_OFFLINE_MS);
  expect(told).toBe(0);
  await unlimited.close();
  await harness.stop(rt);
});
