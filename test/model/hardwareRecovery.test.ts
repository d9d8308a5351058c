import type { HardwareRecoveryEvent } from '../../machines/hardwareRecovery.ts';
import { describeModelOf, type Scenario } from './support/modelSuite.ts';

/**
 * Model-based test of the hardware link: paths generated from machines/hardwareRecovery.ts that together
 * take every transition (DISCONNECT from every state included), driven through the real HardwareRecovery
 * (runtimes/hardwareRecoveryRuntime.ts). After each step: the transitions the recovery's own actor took,
 * what the step reported, the promise-8 behaviour of the state it leads to (probe reads, writes and
 * commands), and the promises of the link (pending writes written only in ok).
 */
await describeModelOf(async () => {
  const { hardwareRecoveryMachine } = await import('../../machines/hardwareRecovery.ts');
  const { hardwareRecoveryHarness } = await import('./runtimes/hardwareRecoveryRuntime.ts');
  const { hardwareRecoveryModelEvents, negativeSteps, transitionCoveringPaths } = await import(
    './support/index.ts'
  );
  // The attempt counter does not change what the machine does: states are told apart by value alone.
  const options = {
    inherited: 'perState' as const,
    serializeState: (snapshot: { value: unknown }) => JSON.stringify(snapshot.value),
  };
  const paths = transitionCoveringPaths(hardwareRecoveryMachine, hardwareRecoveryModelEvents, options);
  const negatives = negativeSteps(hardwareRecoveryMachine, paths, hardwareRecoveryModelEvents, options);
  const scenarios = [
    {
      name: 'the reconnect backoff starts afresh with every episode of reconnect',
      steps: [
        [{ type: 'CONNECT_SUCCEEDED' }, 'ok'],
        [{ type: 'READ_WRITE_FAILED' }, 'issue'],
        [{ type: 'ISSUE_TIMEOUT' }, 'reconnect.waiting'],
        [{ type: 'RECONNECT_DUE' }, 'reconnect.connecting'],
        [{ type: 'RECONNECT_FAILED' }, 'reconnect.waiting'],
        [{ type: 'RECONNECT_DUE' }, 'reconnect.connecting'],
        [{ type: 'RECONNECT_SUCCEEDED' }, 'ok'],
        [{ type: 'READ_WRITE_FAILED' }, 'issue'],
        [{ type: 'ISSUE_TIMEOUT' }, 'reconnect.waiting'],
      ],
    },
    {
      name: 'five hours in reconnect surface the fault; a reconnect in error brings it back',
      steps: [
        [{ type: 'CONNECT_SUCCEEDED' }, 'ok'],
        [{ type: 'READ_WRITE_FAILED' }, 'issue'],
        [{ type: 'ISSUE_TIMEOUT' }, 'reconnect.waiting'],
        [{ type: 'ERROR_TIMEOUT' }, 'error.waiting'],
        [{ type: 'RECONNECT_DUE' }, 'error.connecting'],
        [{ type: 'RECONNECT_SUCCEEDED' }, 'ok'],
      ],
    },
  ] satisfies Array<Scenario<HardwareRecoveryEvent>>;
  return { harness: hardwareRecoveryHarness, paths, negatives, scenarios };
});
