import { assign, setup } from 'xstate';

/**
 * The aggregator's view of one engine: is it there, is it catching up, may it take commands?
 *
 * Pure: the runtime (src/aggregator/session/engineSession.ts) turns link events and store commits into
 * events, and provides the named actions. Only `available` accepts commands.
 */
export type EngineSessionEvent =
  /** The engine said hello. `lastSeq`: its newest record; `persistedSeq`: what the store holds of its epoch. */
  | { type: 'HELLO'; lastSeq: number; persistedSeq: number }
  /**
   * The store committed records of this engine up to `seq`. Only catch-up listens: once the engine is
   * available a commit changes nothing here (the runtime keeps the mark), so the runtime sends it only
   * while catching up.
   */
  | { type: 'PERSISTED'; seq: number }
  /** The link broke without a goodbye, or the engine stopped answering heartbeats. */
  | { type: 'LINK_LOST'; reason: string }
  /** The engine said goodbye and closed the link cleanly. */
  | { type: 'GOODBYE' };

/** What an engine session machine remembers. */
export interface EngineSessionContext {
  /** The engine's last sequence number when it said hello: the end of its backlog. */
  targetSeq: number;
  /** Why the link was last lost. */
  lostReason: string | null;
}

/**
 * The aggregator's view of one engine: offline, catching up, available, unavailable. Runs in `EngineSession`.
 */
export const engineSessionMachine = setup({
  types: {
    context: {} as EngineSessionContext,
    events: {} as EngineSessionEvent,
  },
  actions: {
    /** Answer hello with the persisted high-water mark and the heartbeat period. */
    sendWelcome: () => {},
    /** Start pinging and watching for silence. */
    startHeartbeat: () => {},
    stopHeartbeat: () => {},
    /** Tell the front end (progress of catch-up, link state); the runtime reads the snapshot. */
    publishProgress: () => {},
    /** Refuse commands still waiting for this engine, with the reason. */
    failPendingCommands: (_, _params: { reason: string }) => {},
    /**
     * The engine's backlog up to its hello is persisted: its runs are reconciled with what it said it
     * runs (the run ledger interrupts the ones it no longer runs and sent no end for).
     */
    reconcileRuns: () => {},
    /** The engine is no longer reachable (link lost, or goodbye): the runs it was on are unconfirmed. */
    unconfirmRuns: () => {},
    // Context bookkeeping (pure).
    rememberHello: assign({
      targetSeq: ({ event }) => (event.type === 'HELLO' ? event.lastSeq : 0),
      lostReason: null,
    }),
    rememberLoss: assign({ lostReason: ({ event }) => (event.type === 'LINK_LOST' ? event.reason : null) }),
  },
  guards: {
    helloWithBacklog: ({ event }) => event.type === 'HELLO' && event.lastSeq > event.persistedSeq,
    caughtUp: ({ context, event }) => event.type === 'PERSISTED' && event.seq >= context.targetSeq,
  },
}).createMachine({
  id: 'engineSession',
  initial: 'offline',
  context: { targetSeq: 0, lostReason: null },
  states: {
    offline: {
      entry: ['publishProgress', { type: 'failPendingCommands', params: { reason: 'engine went offline' } }],
      on: {
        HELLO: [
          { guard: 'helloWithBacklog', target: 'catchingUp', actions: ['rememberHello', 'sendWelcome'] },
          { target: 'available', actions: ['rememberHello', 'sendWelcome'] },
        ],
      },
    },
    catchingUp: {
      entry: ['startHeartbeat', 'publishProgress'],
      exit: 'stopHeartbeat',
      on: {
        PERSISTED: [{ guard: 'caughtUp', target: 'available' }, { actions: 'publishProgress' }],
        LINK_LOST: { target: 'unavailable', actions: ['rememberLoss', 'unconfirmRuns'] },
        GOODBYE: { target: 'offline', actions: 'unconfirmRuns' },
      },
    },
    available: {
      entry: ['startHeartbeat', 'reconcileRuns', 'publishProgress'],
      exit: 'stopHeartbeat',
      on: {
        LINK_LOST: { target: 'unavailable', actions: ['rememberLoss', 'unconfirmRuns'] },
        GOODBYE: { target: 'offline', actions: 'unconfirmRuns' },
      },
    },
    unavailable: {
      entry: [
        'publishProgress',
        {
          type: 'failPendingCommands',
          params: ({ context }) => ({ reason: context.lostReason ?? 'link lost' }),
        },
      ],
      on: {
        HELLO: [
          { guard: 'helloWithBacklog', target: 'catchingUp', actions: ['rememberHello', 'sendWelcome'] },
          { target: 'available', actions: ['rememberHello', 'sendWelcome'] },
        ],
      },
    },
  },
});

/** The type of `engineSessionMachine`. */
export type EngineSessionMachine = typeof engineSessionMachine;
