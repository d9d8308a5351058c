import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';
import base from '../../../vitest.config.ts';
import { MODEL_TESTS } from './vitest.machines.config.ts';

/** The tests mutation pass 2 runs against the runtimes: the model tests and each runtime's in-process tests. */
export default defineConfig({
  ...base,
  root: resolve(import.meta.dirname, '../../..'),
  test: {
    ...base.test,
    include: [
      ...MODEL_TESTS,
      'test/engine/resilientDispatcher.test.ts',
      'test/engine/offlineSampler.test.ts',
      'test/aggregator/engineSession.test.ts',
      'test/aggregator/runApi.test.ts',
      'test/aggregator/badInput.test.ts',
      'test/hardware/hardwareRecovery.test.ts',
      'test/hardware/masking.test.ts',
      'test/hardware/unchangedWrites.test.ts',
      'test/hardware/longRunningMethod.test.ts',
      'test/integration/losslessMemory.test.ts',
      'test/integration/commands.test.ts',
      'test/protocol/frameChecksumLink.test.ts',
      'test/engine/refusedUpgrade.test.ts',
      'test/engine/restoredOutbox.test.ts',
      'test/engine/simulatedEngine.test.ts',
      'test/engine/dispatcherDetails.test.ts',
      'test/aggregator/runLedgerRollback.test.ts',
      'test/aggregator/store/asyncGroupCommit.test.ts',
      'test/aggregator/httpApi.test.ts',
      'test/aggregator/sessionDetails.test.ts',
      'test/engine/commandLog.test.ts',
      'test/aggregator/ledgerDetails.test.ts',
      'test/aggregator/runRecords.test.ts',
      'test/aggregator/sessionRunHooks.test.ts',
      'test/runtime/machineRuntime.test.ts',
      'test/hardware/rejectedPendingWrites.test.ts',
      'test/hardware/reportHardwareState.test.ts',
      'test/hardware/recoveryDetails.test.ts',
      'test/hardware/pendingWrites.test.ts',
      'test/integration/losslessDurable.test.ts',
      'test/integration/runsAcrossOutages.test.ts',
      'test/security/limits.test.ts',
      'test/security/hostileFrames.test.ts',
    ],
  },
});
