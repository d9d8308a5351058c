import type { EngineLinkEvent } from '../../machines/engineLink.ts';
import { describeModelOf, type Scenario } from './support/modelSuite.ts';

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
  const closed = { type: 'SOCKET_CLOSED' } as const;
  const due = { type: 'RETRY_DUE' } as const;
  const rejected = { type: 'REJECTED', message: '401 invalid token' } as const;
  const scenarios = [
    {
      name: 'the backoff starts afresh once the link was up',
      steps: [
        [closed, 'buffering.waiting'],
        [due, 'buffering.reconnecting.opening'],
        [{ type: 'SOCKET_OPENED' }, 'buffering.reconnecting.greeting'],
        [{ type: 'WELCOME', backlog: 0 }, 'connected'],
        [closed, 'buffering.waiting'],
      ],
    },
    {
      name: 'each failed attempt widens the backoff; a wait asked for counts once',
      steps: [
        [{ type: 'SOCKET_CLOSED', retryAfterMs: 2000 }, 'buffering.waiting'],
        [due, 'buffering.reconnecting.opening'],
        [closed, 'buffering.waiting'],
        [due, 'buffering.reconnecting.opening'],
        [{ type: 'CONNECT_TIMEOUT' }, 'buffering.waiting'],
        [due, 'buffering.reconnecting.opening'],
        [{ type: 'SOCKET_OPENED' }, 'buffering.reconnecting.greeting'],
        [{ type: 'HEARTBEAT_MISSED' }, 'buffering.reconnecting.greeting'],
        [{ type: 'CONNECT_TIMEOUT' }, 'buffering.waiting'],
      ],
    },
    {
      name: 'a rejected engine told to reconnect tries at once, its backoff afresh',
      steps: [
        [closed, 'buffering.waiting'],
        [due, 'buffering.reconnecting.opening'],
        [rejected, 'rejected'],
        [{ type: 'RECONNECT' }, 'connecting.opening'],
        [closed, 'buffering.waiting'],
      ],
    },
    {
      name: 'a rejected engine tries again by itself after the slow retry period',
      steps: [
        [rejected, 'rejected'],
        [{ type: 'CONNECT_TIMEOUT' }, 'rejected'],
        [due, 'connecting.opening'],
        [{ type: 'SOCKET_OPENED' }, 'connecting.greeting'],
        [{ type: 'WELCOME', backlog: 1 }, 'flushing'],
        [{ type: 'HEARTBEAT_MISSED' }, 'buffering.waiting'],
      ],
    },
    {
      name: 'a silent link is given up, connected or flushing, and stop ends everything',
      steps: [
        [{ type: 'SOCKET_OPENED' }, 'connecting.greeting'],
        [{ type: 'WELCOME', backlog: 0 }, 'connected'],
        [{ type: 'HEARTBEAT_MISSED' }, 'buffering.waiting'],
        [{ type: 'RECONNECT' }, 'buffering.reconnecting.opening'],
        [{ type: 'STOP' }, 'stopped'],
      ],
    },
  ] satisfies Array<Scenario<EngineLinkEvent>>;
  return { harness: engineLinkHarness, paths, negatives, scenarios };
});
