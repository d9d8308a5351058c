import { engineSessionMachine } from '../../machines/engineSession.ts';
import { engineSessionHarness } from './runtimes/engineSessionRuntime.ts';
import {
  describeModel,
  engineSessionModelEvents,
  negativeSteps,
  transitionCoveringPaths,
} from './support/index.ts';

/**
 * Model-based test of the aggregator's view of an engine: paths generated from machines/engineSession.ts
 * that together take every transition with every supplied event (each side of the hello's backlog guard
 * and of the catch-up guard), driven through the real Aggregator (runtimes/engineSessionRuntime.ts). After
 * each step: the transitions the session's own actor took, the welcome, the progress published, pings
 * sent or stopped, commands left waiting refused with their reason, and the promises of the session.
 */
const options = { eachEvent: true } as const;
const paths = transitionCoveringPaths(engineSessionMachine, engineSessionModelEvents, options);
const negatives = negativeSteps(engineSessionMachine, paths, engineSessionModelEvents, options);

describeModel(engineSessionHarness, paths, negatives);
