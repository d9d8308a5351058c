import { assign, setup } from 'xstate';

/**
 * The engine's link to one hardware layer, and how it recovers from hardware faults (README: Hardware
 * recovery).
 *
 * - `disconnected`: no connection yet (or the engine disconnected). Reads and writes fail.
 * - `ok`: the hardware answers. Pending writes are flushed on entry.
 * - `issue`: a read or write failed. Failed reads return last-known-good values and failed writes
 *   are kept as pending; a successful read or write returns to `ok`. After `reconnectAfterMs`
 *   (ISSUE_TIMEOUT) without one, the link reconnects.
 * - `reconnect`: reconnecting with backoff (`waiting` for the next attempt, or `connecting`), still
 *   masking, without touching the hardware for reads or writes. After `errorAfterMs` (ERROR_TIMEOUT)
 *   without success the link is in error.
 * - `error`: reconnects continue on the same schedule, but nothing is masked any more: reads and
 *   writes fail, pending writes are dropped, and the connection status says Disconnected.
 *
 * Pure: the runtime (src/hardware/hardwareRecovery.ts) reports the outcome of hardware calls and
 * timers as events, and provides the named actions with `machine.provide()`. The reconnect wait is
 * scheduled on the transitions into `waiting`, not on its entry, so that a wait under way when
 * `reconnect` turns into `error` simply continues.
 */
export type HardwareRecoveryEvent =
  /** The engine's connect() reached the hardware. */
  | { type: 'CONNECT_SUCCEEDED' }
  /** The engine's connect() failed (the engine gets the error). */
  | { type: 'CONNECT_FAILED' }
  /** A read or write reached the hardware. */
  | { type: 'READ_WRITE_SUCCEEDED' }
  /** A read or write failed with a hardware fault. */
  | { type: 'READ_WRITE_FAILED' }
  /** `reconnectAfterMs` passed in `issue` without a successful read or write. */
  | { type: 'ISSUE_TIMEOUT' }
  /** The wait before the next reconnect attempt has passed. */
  | { type: 'RECONNECT_DUE' }
  | { type: 'RECONNECT_SUCCEEDED' }
  | { type: 'RECONNECT_FAILED' }
  /** `errorAfterMs` passed in `reconnect` without a successful reconnect. */
  | { type: 'ERROR_TIMEOUT' }
  /** The engine disconnects from the hardware. */
  | { type: 'DISCONNECT' };

/** What the hardware recovery machine remembers. */
export interface HardwareRecoveryContext {
  /** Failed reconnect attempts since the link entered `reconnect` (bounded). */
  attempt: number;
}

/** At 30 minutes between attempts, about seven months of failed attempts. */
export const MAX_COUNTED_RECONNECT_ATTEMPTS = 10_000;

const attemptParams = ({ context }: { context: HardwareRecoveryContext }) => ({ attempt: context.attempt });

/**
 * Reconnect attempts, the same in `reconnect` (the fault still masked) and in `error` (surfaced): wait
 * for the backoff, try, and on failure count the attempt and wait again; success is `ok`. `also`: the
 * transitions one of them adds to each step.
 */
function reconnectAttempts<Waiting extends object, Connecting extends object>(also: {
  waiting: Waiting;
  connecting: Connecting;
}) {
  return {
    waiting: {
      on: {
        RECONNECT_DUE: {
          target: 'connecting',
          actions: { type: 'attemptReconnect', params: attemptParams },
        },
        ...also.waiting,
      },
    },
    connecting: {
      on: {
        RECONNECT_SUCCEEDED: '#hardwareRecovery.ok',
        RECONNECT_FAILED: {
          target: 'waiting',
          actions: ['countAttempt', { type: 'scheduleReconnect', params: attemptParams }],
        },
        ...also.connecting,
      },
    },
  } as const;
}

/**
 * One hardware connection: ok, issue (faults masked), reconnect, error, disconnected. Runs in
 * `HardwareRecovery`.
 */
export const hardwareRecoveryMachine = setup({
  types: {
    context: {} as HardwareRecoveryContext,
    events: {} as HardwareRecoveryEvent,
  },
  actions: {
    /** The connection-status value reads Connected. */
    setStatusConnected: () => {},
    /** The connection-status value reads Disconnected. */
    setStatusDisconnected: () => {},
    /** Tell observers the engine's connect() failed. */
    reportConnectFailed: () => {},
    /** Write the pending writes (latest value per register) to the hardware. */
    flushPendingWrites: () => {},
    /** Raise ISSUE_TIMEOUT after `reconnectAfterMs`. */
    armIssueTimer: () => {},
    cancelIssueTimer: () => {},
    /** Raise ERROR_TIMEOUT after `errorAfterMs`. */
    armErrorTimer: () => {},
    cancelErrorTimer: () => {},
    /** Raise RECONNECT_DUE after the backoff delay for `attempt` failed attempts. */
    scheduleReconnect: (_, _params: { attempt: number }) => {},
    /** Disconnect and connect the hardware; report RECONNECT_SUCCEEDED or RECONNECT_FAILED. */
    attemptReconnect: (_, _params: { attempt: number }) => {},
    /** Cancel the reconnect wait; disown any connect or reconnect attempt under way. */
    stopConnecting: () => {},
    /** Disconnect the hardware. */
    closeHardware: () => {},
    /** The device may restart: the next write of every register goes through the unchanged-value filter unfiltered. */
    forgetWrittenValues: () => {},
    /** Drop pending writes (reporting them) and last-known-good values: errors are no longer masked. */
    stopMasking: (_, _params: { reason: 'error' | 'disconnected' }) => {},
    // Context bookkeeping (pure).
    resetAttempts: assign({ attempt: 0 }),
    countAttempt: assign({
      attempt: ({ context }) => Math.min(context.attempt + 1, MAX_COUNTED_RECONNECT_ATTEMPTS),
    }),
  },
}).createMachine({
  id: 'hardwareRecovery',
  initial: 'disconnected',
  context: { attempt: 0 },
  states: {
    disconnected: {
      entry: [
        'setStatusDisconnected',
        { type: 'stopMasking', params: { reason: 'disconnected' } },
        'forgetWrittenValues',
      ],
      on: {
        CONNECT_SUCCEEDED: 'ok',
        CONNECT_FAILED: { actions: 'reportConnectFailed' },
      },
    },
    ok: {
      entry: ['setStatusConnected', 'flushPendingWrites'],
      on: {
        READ_WRITE_FAILED: 'issue',
      },
    },
    issue: {
      entry: 'armIssueTimer',
      exit: 'cancelIssueTimer',
      on: {
        READ_WRITE_SUCCEEDED: 'ok',
        ISSUE_TIMEOUT: 'reconnect',
      },
    },
    reconnect: {
      initial: 'waiting',
      entry: [
        'resetAttempts',
        'forgetWrittenValues',
        'armErrorTimer',
        { type: 'scheduleReconnect', params: ({ context }) => ({ attempt: context.attempt }) },
      ],
      exit: 'cancelErrorTimer',
      // Still masked: the error timer surfaces the fault, in the same step of the attempts.
      states: reconnectAttempts({
        waiting: { ERROR_TIMEOUT: '#hardwareRecovery.error.waiting' },
        connecting: { ERROR_TIMEOUT: '#hardwareRecovery.error.connecting' },
      }),
    },
    error: {
      initial: 'waiting',
      entry: ['setStatusDisconnected', { type: 'stopMasking', params: { reason: 'error' } }],
      states: reconnectAttempts({ waiting: {}, connecting: {} }),
    },
  },
  on: {
    DISCONNECT: { target: '.disconnected', actions: ['stopConnecting', 'closeHardware'] },
  },
});

/** The type of `hardwareRecoveryMachine`. */
export type HardwareRecoveryMachine = typeof hardwareRecoveryMachine;

/** The five states of the link, as the engine and the aggregator see them. */
export type HardwareRecoveryState = 'disconnected' | 'ok' | 'issue' | 'reconnect' | 'error';

/** Every state the machine can rest in, as a dotted path ('reconnect.waiting'). */
export type HardwareRecoveryMachineState =
  | 'disconnected'
  | 'ok'
  | 'issue'
  | 'reconnect.waiting'
  | 'reconnect.connecting'
  | 'error.waiting'
  | 'error.connecting';
