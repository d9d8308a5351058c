import { describeModelOf } from './support/modelSuite.ts';

/**
 * Model-based test of the engine's link: paths generated from machines/engineLink.ts that together take
 * every transition with every supplied event (each side of the welcome's backlog guard, a close with and
 * without a wait asked for), driven through the real ResilientDispatcher (runtimes/engineLinkRuntime.ts).
 * After each step: the transitions the dispatcher's own actor took, the retry delay it scheduled under a
 * seeded random, the hello it sent, its open links, and the promises of the link.
 */
await describeModelOf(async () => {
  const { engineLinkMachine } = await import('../../machines/engineLink.ts');
  const { engineLinkHarness } = await import('./runtimes/engineLinkRuntime.ts');
  const { engineLinkModelEvents, negativeSteps, transitionCoveringPaths } = await import(
    './support/index.ts'
  );
  const options = { inherited: 'perState', eachEvent: true } as const;
  const paths = transitionCoveringPaths(engineLinkMachine, engineLinkModelEvents, options);
  const negatives = negativeSteps(engineLinkMachine, paths, engineLinkModelEvents, {
    ...options,
    // The attempt counter changes no guard: a state is its value.
    serializeState: (s) => JSON.stringify(s.value),
  });
  return { harness: engineLinkHarness, paths, negatives };
});
