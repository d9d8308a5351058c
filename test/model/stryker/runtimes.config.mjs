import { passConfig } from './shared.mjs';

/**
 * Pass 2: the runtimes that run the machines, against the model tests and the in-process tests of each
 * runtime (vitest.runtimes.config.ts); each mutant runs only the tests that cover it. The runtimes:
 *
 * - engineLink: the dispatcher and its link to the aggregator (AggregatorLink, the send window);
 * - engineSession: the aggregator's session folder (the session, its link connections, frame ingest,
 *   pings, tally, view, ingest throttle, pending commands);
 * - runReconciliation: the run ledger and its run records;
 * - hardwareRecovery: the hardware recovery decorator;
 * - offlineWatch: the offline watch;
 * - and MachineRuntime, the one way each of them runs its machine.
 */
export default {
  ...passConfig('runtimes'),
  mutate: [
    'src/runtime/machineRuntime.ts',
    'src/engine/resilientDispatcher.ts',
    'src/engine/aggregatorLink.ts',
    'src/engine/sendWindow.ts',
    'src/engine/offlineWatch.ts',
    'src/aggregator/session/*.ts',
    'src/aggregator/runs/*.ts',
    'src/hardware/hardwareRecovery.ts',
  ],
};
