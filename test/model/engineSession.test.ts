import { describeModelOf } from './support/modelSuite.ts';

/**
 * Model-based test of the aggregator's view of an engine: paths generated from machines/engineSession.ts
 * that together take every transition with every supplied event (each side of the hello's backlog guard
 * and of the catch-up guard), driven through the real Aggregator (runtimes/engineSessionRuntime.ts). After
 * each step: the transitions the session's own actor took, the welcome, the progress published, pings
 * sent or stopped, commands left waiting refused with their reason, and the promises of the session.
 */
await describeModelOf(async () => {
  const { engineSessionMachine } = await import('../../machines/engineSession.ts');
  const { engineSessionHarness } = await import('./runtimes/engineSessionRuntime.ts');
  const { engineSessionModelEvents, negativeSteps, transitionCoveringPaths } = await import(
    './support/index.ts'
  );
  const options = { eachEvent: true } as const;
  const paths = transitionCoveringPaths(engineSessionMachine, engineSessionModelEvents, options);
  const negatives = negativeSteps(engineSessionMachine, paths, engineSessionModelEvents, options);
  return { harness: engineSessionHarness, paths, negatives };
});
