import { assign, setup } from 'xstate';

/**
 * The aggregator's belief about one run of one engine, kept true across outages and restarts.
 *
 * Pure: the runtime (src/aggregator/runs/runLedger.ts) turns persisted run records, the engine's hello
 * snapshot, link changes and time into events, and persists every state this machine enters. A run ends
 * only on a record the engine wrote (completed or failed, with the engine's own times), or is declared
 * interrupted when its end can never arrive (the engine restarted, stopped running it, or was lost);
 * an interrupted run is reopened when the engine turns out to be running it after all or its end arrives.
 */
export type RunReconciliationEvent =
  /** The run's completion record was persisted. `endedAt`: engine time. */
  | { type: 'RUN_COMPLETED'; endedAt: number }
  /** The run's failure record was persisted. */
  | { type: 'RUN_FAILED'; endedAt: number; reason: string }
  /**
   * The engine became unavailable: the run's outcome is unknown until it comes back. (For a run just
   * started: the link its start record came on was gone by the time the record was committed.)
   */
  | { type: 'LINK_LOST' }
  /**
   * The engine is back and says (hello snapshot) that it is still running this run; or, for a run just
   * started, the link its start record came on is still the engine's link.
   */
  | { type: 'ENGINE_RUNNING' }
  /** The engine is back with a new epoch: whatever it had not sent of this run is gone. */
  | { type: 'ENGINE_RESTARTED' }
  /** The engine is back, its backlog is persisted, it holds no end for this run and does not run it. */
  | { type: 'ENGINE_NOT_RUNNING' }
  /** The engine stayed unavailable for the abandon period. */
  | { type: 'ABANDON_DUE' };

/** What a run's reconciliation machine remembers. */
export interface RunReconciliationContext {
  /** Why the run was interrupted or failed (null otherwise). */
  reason: string | null;
  /** Engine time the run ended (null while it has not). */
  endedAt: number | null;
}

/** Why a run is interrupted: the engine came back with a new epoch and no end for it. */
export const REASON_ENGINE_RESTARTED = 'engine restarted during the run';
/** Why a run is interrupted: the engine stayed away longer than `abandonAfterMs`. */
export const REASON_ENGINE_LOST = 'engine lost';
/** Why a run is interrupted: the engine caught up, holds no end for it, and does not run it. */
export const REASON_NOT_RUNNING = 'engine no longer runs it and sent no end';

/**
 * One run as the aggregator reconciles it across outages: active, unconfirmed, completed, failed,
 * interrupted. Runs in `RunLedger`.
 */
export const runReconciliationMachine = setup({
  types: {
    context: {} as RunReconciliationContext,
    events: {} as RunReconciliationEvent,
  },
  actions: {
    /** Write the state just entered (with reason and end time) to the store, and tell the front end. */
    persistRun: (_, _params: { state: RunState }) => {},
    /** Start the abandon clock (raises ABANDON_DUE after the abandon period since the run became unconfirmed). */
    scheduleAbandon: () => {},
    cancelAbandon: () => {},
    // Context bookkeeping (pure).
    rememberEnd: assign({
      endedAt: ({ event, context }) =>
        event.type === 'RUN_COMPLETED' || event.type === 'RUN_FAILED' ? event.endedAt : context.endedAt,
      reason: ({ event }) => (event.type === 'RUN_FAILED' ? event.reason : null),
    }),
    interruptedBy: assign({
      reason: (_, params: { reason: string }) => params.reason,
    }),
    clearReason: assign({ reason: null }),
  },
  guards: {
    givenUp: ({ context }) => context.reason === REASON_ENGINE_LOST,
  },
}).createMachine({
  id: 'runReconciliation',
  initial: 'starting',
  context: { reason: null, endedAt: null },
  states: {
    // A record about a new run is being committed; the runtime tells at once how the engine's link stands
    // at that moment (a start may be committed after the link it came on has gone), or, for a run whose
    // first record to arrive is its end, how it ended. Never persisted.
    starting: {
      on: {
        ENGINE_RUNNING: 'active',
        LINK_LOST: 'unconfirmed',
        RUN_COMPLETED: { target: 'completed', actions: 'rememberEnd' },
        RUN_FAILED: { target: 'failed', actions: 'rememberEnd' },
      },
    },
    active: {
      entry: { type: 'persistRun', params: { state: 'active' } },
      on: {
        LINK_LOST: 'unconfirmed',
        RUN_COMPLETED: { target: 'completed', actions: 'rememberEnd' },
        RUN_FAILED: { target: 'failed', actions: 'rememberEnd' },
        // A new epoch finds a run active only when the old link's loss did not reach it: whatever the
        // order of events, the restarted engine does not run it.
        ENGINE_RESTARTED: {
          target: 'interrupted',
          actions: { type: 'interruptedBy', params: { reason: REASON_ENGINE_RESTARTED } },
        },
        ENGINE_NOT_RUNNING: {
          target: 'interrupted',
          actions: { type: 'interruptedBy', params: { reason: REASON_NOT_RUNNING } },
        },
      },
    },
    unconfirmed: {
      entry: [{ type: 'persistRun', params: { state: 'unconfirmed' } }, 'scheduleAbandon'],
      exit: 'cancelAbandon',
      on: {
        ENGINE_RUNNING: 'active',
        RUN_COMPLETED: { target: 'completed', actions: 'rememberEnd' },
        RUN_FAILED: { target: 'failed', actions: 'rememberEnd' },
        ENGINE_RESTARTED: {
          target: 'interrupted',
          actions: { type: 'interruptedBy', params: { reason: REASON_ENGINE_RESTARTED } },
        },
        ENGINE_NOT_RUNNING: {
          target: 'interrupted',
          actions: { type: 'interruptedBy', params: { reason: REASON_NOT_RUNNING } },
        },
        ABANDON_DUE: {
          target: 'interrupted',
          actions: { type: 'interruptedBy', params: { reason: REASON_ENGINE_LOST } },
        },
      },
    },
    interrupted: {
      entry: { type: 'persistRun', params: { state: 'interrupted' } },
      on: {
        // Only a run given up on (engine lost) can still be running or end: after a restart or a
        // caught-up engine that does not run it, nothing more of it can come.
        ENGINE_RUNNING: { guard: 'givenUp', target: 'active', actions: 'clearReason' },
        RUN_COMPLETED: { guard: 'givenUp', target: 'completed', actions: 'rememberEnd' },
        RUN_FAILED: { guard: 'givenUp', target: 'failed', actions: 'rememberEnd' },
      },
    },
    completed: { type: 'final', entry: { type: 'persistRun', params: { state: 'completed' } } },
    failed: { type: 'final', entry: { type: 'persistRun', params: { state: 'failed' } } },
  },
});

/** The type of `runReconciliationMachine`. */
export type RunReconciliationMachine = typeof runReconciliationMachine;
/** The states a run is persisted in. */
export type RunState = 'active' | 'unconfirmed' | 'completed' | 'failed' | 'interrupted';
