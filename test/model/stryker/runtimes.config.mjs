import { passConfig } from './shared.mjs';

/**
 * Pass 2: the runtimes that run the machines, against the model tests and the in-process tests of each
 * runtime (vitest.runtimes.config.ts); each mutant runs only the tests that cover it. One group of files
 * per runtime, each with its own report (reports/mutation/runtimes-<group>.json), so that each runtime's
 * score stands alone and a long pass keeps what it finished. MUTATION_GROUP names the group (all of them
 * when unset; scripts/mutation.ts runs them one after the other).
 */
export const RUNTIME_GROUPS = {
  // runReconciliation: the run ledger and its run records.
  runLedger: ['src/aggregator/runs/*.ts'],
  // hardwareRecovery: the hardware recovery decorator, with the pending writes and last known good values
  // it keeps.
  hardwareRecovery: [
    'src/hardware/hardwareRecovery.ts',
    'src/hardware/hardwareWrites.ts',
    'src/hardware/lastKnownGood.ts',
  ],
  // engineLink: the dispatcher, its link to the aggregator (AggregatorLink) and send window; the offline watch.
  dispatcher: [
    'src/engine/resilientDispatcher.ts',
    'src/engine/aggregatorLink.ts',
    'src/engine/sendWindow.ts',
    'src/engine/offlineWatch.ts',
  ],
  // engineSession: the aggregator's session folder (the session, its link connections, frame ingest, pings,
  // tally, view, ingest throttle, pending commands).
  session: ['src/aggregator/session/*.ts'],
  // MachineRuntime: the one way each of them runs its machine.
  machineRuntime: ['src/runtime/machineRuntime.ts'],
};

const group = process.env.MUTATION_GROUP;
if (group !== undefined && !(group in RUNTIME_GROUPS))
  throw new Error(`MUTATION_GROUP ${group}: not one of ${Object.keys(RUNTIME_GROUPS).join(', ')}`);

export default {
  ...passConfig(group === undefined ? 'runtimes' : `runtimes-${group}`, 'runtimes'),
  mutate: group === undefined ? Object.values(RUNTIME_GROUPS).flat() : RUNTIME_GROUPS[group],
};
