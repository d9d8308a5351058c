import { passConfig } from './shared.mjs';

/**
 * Pass 2: the runtimes that run the machines (the four of issue 13, and the offline watch since), against the model tests and the in-process tests of
 * each runtime (vitest.runtimes.config.ts); each mutant runs only the tests that cover it.
 */
export default {
  ...passConfig('runtimes'),
  mutate: [
    'src/engine/resilientDispatcher.ts',
    'src/engine/offlineWatch.ts',
    'src/aggregator/engineSessionRuntime.ts',
    'src/aggregator/runLedger.ts',
    'src/hardware/hardwareRecovery.ts',
  ],
};
