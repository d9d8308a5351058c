import { engineLinkMachine } from '../../machines/engineLink.ts';
import { engineLinkHarness } from './runtimes/engineLinkRuntime.ts';
import {
  describeModel,
  engineLinkModelEvents,
  negativeSteps,
  transitionCoveringPaths,
} from './support/index.ts';

/**
 * Model-based test of the engine's link: paths generated from machines/engineLink.ts that together take
 * every transition with every supplied event (each side of the welcome's backlog guard, a close with and
 * without a wait asked for), driven through the real ResilientDispatcher (runtimes/engineLinkRuntime.ts).
 * After each step: the transitions the dispatcher's own actor took, the retry delay it scheduled under a
 * seeded random, the hello it sent, its open links, and the promises of the link.
 */
const options = { inherited: 'perState', eachEvent: true } as const;
const paths = transitionCoveringPaths(engineLinkMachine, engineLinkModelEvents, options);
const negatives = negativeSteps(engineLinkMachine, paths, engineLinkModelEvents, {
  ...options,
  // The attempt counter changes no guard: a state is its value (and its rejection).
  serializeState: (s) => JSON.stringify(s.value),
});

describeModel(engineLinkHarness, paths, negatives);
