import { assign, setup } from 'xstate';

/**
 * The engine's side of the link to its aggregator.
 *
 * Pure: time and I/O arrive as events, effects leave as named actions that the runtime
 * (src/engine/resilientDispatcher.ts) provides with `machine.provide()`. Records never pass through the
 * machine; they wait in the outbox whatever the state, and leave it only while `flushing` or `connected`.
 */
export type EngineLinkEvent =
  /** The transport opened (the upgrade was accepted); the runtime says hello. */
  | { type: 'SOCKET_OPENED' }
  /** The aggregator answered hello. `backlog`: records the engine holds beyond the aggregator's ack. */
  | { type: 'WELCOME'; backlog: number }
  /** The transport closed or failed to open. `retryAfterMs`: the aggregator asked us to wait. */
  | { type: 'SOCKET_CLOSED'; retryAfterMs?: number }
  /** The connection attempt got no answer in time. */
  | { type: 'CONNECT_TIMEOUT' }
  /** Nothing was heard from the aggregator within the heartbeat timeout: the link is dead or half-open. */
  | { type: 'HEARTBEAT_MISSED' }
  /**
   * The aggregator refused the upgrade for a reason a quick retry cannot change: authentication (401,
   * 403) or an engine id it does not take (400, 404). Retried slowly, in case the aggregator changes.
   */
  | { type: 'REJECTED'; message: string }
  /** The retry delay (or, while rejected, the slow retry period) has passed. */
  | { type: 'RETRY_DUE' }
  /** Everything held at welcome has been acknowledged. */
  | { type: 'BACKLOG_DRAINED' }
  /** Try again now (after a rejection, or to skip the wait). */
  | { type: 'RECONNECT' }
  | { type: 'STOP' };

/** What the engine's link machine remembers: attempts, the last failure, what the aggregator asked. */
export interface EngineLinkContext {
  /** Failed connection attempts since the link was last up (bounded). */
  attempt: number;
  /** A wait the aggregator asked for on its last refusal, used once by the next retry. */
  retryAfterMs: number | null;
  /** Why the aggregator refused us, while rejected. */
  rejection: string | null;
}

export const MAX_COUNTED_ATTEMPTS = 64;

/**
 * One attempt to get the link up, the same whether it is the first (`connecting`) or a retry
 * (`buffering.reconnecting`): open the transport, then say hello and wait for welcome, all within the
 * connect timeout. On failure it goes to `onFailure`, a sibling state.
 */
function connectionAttempt<Failure extends string>(onFailure: Failure) {
  return {
    initial: 'opening',
    entry: 'armConnectTimer',
    exit: 'cancelConnectTimer',
    states: {
      opening: {
        entry: 'openSocket',
        on: {
          SOCKET_OPENED: 'greeting',
          REJECTED: { target: '#engineLink.rejected', actions: 'rememberRejection' },
        },
      },
      greeting: {
        entry: 'sendHello',
        on: {
          WELCOME: [
            { guard: 'hasBacklog', target: '#engineLink.flushing' },
            { target: '#engineLink.connected' },
          ],
        },
      },
    },
    on: {
      SOCKET_CLOSED: { target: onFailure, actions: 'rememberRetryAfter' },
      CONNECT_TIMEOUT: { target: onFailure, actions: 'abandonSocket' },
    },
  } as const;
}

/**
 * The engine's link to its aggregator: connecting, connected, flushing the backlog, buffering while down
 * (waiting, reconnecting), rejected, stopped. Runs in `AggregatorLink`.
 */
export const engineLinkMachine = setup({
  types: {
    context: {} as EngineLinkContext,
    events: {} as EngineLinkEvent,
  },
  actions: {
    /** Open a transport to the aggregator. */
    openSocket: () => {},
    /** Arm the connect timeout (raises CONNECT_TIMEOUT). */
    armConnectTimer: () => {},
    cancelConnectTimer: () => {},
    /** Send hello with epoch, last sequence and run snapshot. */
    sendHello: () => {},
    /** Drop the current transport without waiting for its close handshake. */
    abandonSocket: () => {},
    /** Schedule RETRY_DUE after the backoff for `attempt` (or `retryAfterMs` when larger). */
    scheduleRetry: (_, _params: { attempt: number; retryAfterMs: number | null }) => {},
    cancelRetry: () => {},
    /** Start replaying the backlog from the acknowledged sequence, pipelined. */
    startFlush: () => {},
    /**
     * The link is up: records may leave the outbox (thinned offline windows first), and the aggregator is
     * watched for silence longer than the heartbeat timeout (raises HEARTBEAT_MISSED).
     */
    startSending: () => {},
    /** Records stay in the outbox; the silence watchdog stops. */
    stopSending: () => {},
    /** Tell the user the aggregator refused the engine, and why. */
    reportRejected: (_, _params: { message: string }) => {},
    /** Schedule RETRY_DUE after the slow retry period of a rejected engine. */
    scheduleRejectedRetry: () => {},
    /** Say goodbye, close the transport, cancel every timer. */
    closeLink: () => {},
    // Context bookkeeping (pure).
    resetAttempts: assign({ attempt: 0, retryAfterMs: null }),
    countAttempt: assign({
      attempt: ({ context }) => Math.min(context.attempt + 1, MAX_COUNTED_ATTEMPTS),
      retryAfterMs: null,
    }),
    rememberRetryAfter: assign({
      retryAfterMs: ({ event }) => (event.type === 'SOCKET_CLOSED' ? (event.retryAfterMs ?? null) : null),
    }),
    rememberRejection: assign({
      rejection: ({ event }) => (event.type === 'REJECTED' ? event.message : null),
    }),
    forgetRejection: assign({ rejection: null, attempt: 0 }),
  },
  guards: {
    hasBacklog: ({ event }) => event.type === 'WELCOME' && event.backlog > 0,
  },
}).createMachine({
  id: 'engineLink',
  initial: 'connecting',
  context: { attempt: 0, retryAfterMs: null, rejection: null },
  states: {
    connecting: connectionAttempt('buffering'),
    flushing: {
      entry: ['resetAttempts', 'startSending', 'startFlush'],
      exit: 'stopSending',
      on: {
        BACKLOG_DRAINED: 'connected',
        SOCKET_CLOSED: { target: 'buffering', actions: 'rememberRetryAfter' },
        HEARTBEAT_MISSED: { target: 'buffering', actions: 'abandonSocket' },
      },
    },
    connected: {
      entry: ['resetAttempts', 'startSending'],
      exit: 'stopSending',
      on: {
        SOCKET_CLOSED: { target: 'buffering', actions: 'rememberRetryAfter' },
        HEARTBEAT_MISSED: { target: 'buffering', actions: 'abandonSocket' },
      },
    },
    buffering: {
      initial: 'waiting',
      states: {
        waiting: {
          entry: [
            {
              type: 'scheduleRetry',
              params: ({ context }) => ({ attempt: context.attempt, retryAfterMs: context.retryAfterMs }),
            },
            'countAttempt',
          ],
          exit: 'cancelRetry',
          on: {
            RETRY_DUE: 'reconnecting',
            RECONNECT: 'reconnecting',
          },
        },
        reconnecting: connectionAttempt('waiting'),
      },
    },
    // Refused for good as far as a quick retry can tell: records keep waiting in the outbox, and the
    // link is tried again slowly (the aggregator may learn the engine's token: a reloaded token file).
    rejected: {
      entry: [
        'abandonSocket',
        { type: 'reportRejected', params: ({ context }) => ({ message: context.rejection ?? 'refused' }) },
        'scheduleRejectedRetry',
      ],
      exit: 'cancelRetry',
      on: {
        RETRY_DUE: { target: 'connecting', actions: 'forgetRejection' },
        RECONNECT: { target: 'connecting', actions: 'forgetRejection' },
      },
    },
    stopped: {
      type: 'final',
      entry: 'closeLink',
    },
  },
  on: {
    STOP: '.stopped',
  },
});

/** The type of `engineLinkMachine`. */
export type EngineLinkMachine = typeof engineLinkMachine;
