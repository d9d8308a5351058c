import { setup } from 'xstate';

/**
 * How long the engine's link has been down, against a limit (`maxOfflineMs`). An engine that must not run
 * a method unobserved for long (Open-Pectus issue #498, case B) is told once per outage that the limit
 * has passed, and again when the link is back.
 *
 * Pure: the runtime (src/engine/offlineWatch.ts) says when the link comes up (the engineLink machine
 * enters `flushing` or `connected`) and goes down (it leaves them), and when the limit it armed has
 * passed; the named actions arm and cancel that timer and tell the engine.
 */
export type OfflineWatchEvent =
  /** The link is up: the aggregator welcomed the engine. */
  | { type: 'LINK_UP' }
  /** The link went down (closed, silent, refused, rejected). */
  | { type: 'LINK_DOWN' }
  /** The link has been down for the limit. */
  | { type: 'LIMIT_DUE' };

/**
 * Watches an engine's outages against `maxOfflineMs`: tells `offlineTooLong` once per outage and
 * `onlineAgain` after it. Runs in `OfflineWatch`.
 */
export const offlineWatchMachine = setup({
  types: {
    events: {} as OfflineWatchEvent,
  },
  actions: {
    /** Note when the link went down and arm the limit (raises LIMIT_DUE). */
    armLimit: () => {},
    cancelLimit: () => {},
    /** Tell the engine the link has been down too long (`offlineTooLong`). */
    reportOfflineTooLong: () => {},
    /** Tell the engine the link is back (`onlineAgain`). */
    reportOnlineAgain: () => {},
  },
}).createMachine({
  id: 'offlineWatch',
  // Down until the first welcome: an engine started while its aggregator is away is offline too.
  initial: 'offline',
  states: {
    offline: {
      entry: 'armLimit',
      exit: 'cancelLimit',
      on: {
        LINK_UP: 'online',
        LIMIT_DUE: 'offlineTooLong',
      },
    },
    offlineTooLong: {
      entry: 'reportOfflineTooLong',
      on: {
        LINK_UP: { target: 'online', actions: 'reportOnlineAgain' },
      },
    },
    online: {
      on: {
        LINK_DOWN: 'offline',
      },
    },
  },
});

/** The type of `offlineWatchMachine`. */
export type OfflineWatchMachine = typeof offlineWatchMachine;
