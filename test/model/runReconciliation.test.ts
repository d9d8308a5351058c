import { describeModelOf } from './support/modelSuite.ts';

/**
 * Model-based test of run reconciliation: paths generated from machines/runReconciliation.ts that
 * together take every transition with every supplied event, driven through the real aggregator and a real
 * engine (runtimes/runReconciliationRuntime.ts). After each step: the transitions the run's own actor
 * took, the exact state, reason and end time persisted, and the promises of the README's table (an end
 * only from the engine, with its times; never left open after a restart or a catch-up without it; engine
 * lost only after the abandon period).
 */
await describeModelOf(async () => {
  const { runReconciliationMachine } = await import('../../machines/runReconciliation.ts');
  const { runReconciliationHarness } = await import('./runtimes/runReconciliationRuntime.ts');
  const { negativeSteps, runReconciliationModelEvents, transitionCoveringPaths } = await import(
    './support/index.ts'
  );
  const options = { eachEvent: true } as const;
  const paths = transitionCoveringPaths(runReconciliationMachine, runReconciliationModelEvents, options);
  const negatives = negativeSteps(runReconciliationMachine, paths, runReconciliationModelEvents, options);
  return { harness: runReconciliationHarness, paths, negatives };
});
