import { passConfig } from './shared.mjs';

/**
 * Pass 2: the four runtimes that run the machines, against the model tests and the in-process tests of
 * each runtime (vitest.runtimes.config.ts); each mutant runs only the tests that cover it.
 */
export default {
  ...passConfig('runtimes'),
  mutate: [
    'src/engine/resilientDispatcher.ts',
    'src/aggregator/engineSessionRuntime.ts',
    'src/aggregator/runLedger.ts',
    'src/hardware/hardwareRecovery.ts',
  ],
};
