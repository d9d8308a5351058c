import type { InspectionEvent } from 'xstate';
import type { HardwareRecoveryState } from '../../machines/hardwareRecovery.ts';
import type { Clock } from '../time/clock.ts';
import { DEFAULT_RECONNECT_SCHEDULE_MS } from './reconnectBackoff.ts';

/** Options of `HardwareRecovery`; defaults are `HARDWARE_RECOVERY_DEFAULTS`. */
export interface HardwareRecoveryOptions {
  /** Names the hardware in errors and in the state record sent to the aggregator. Default 'hardware'. */
  name?: string;
  clock?: Clock;
  /** In `issue` this long without a successful read or write, the link reconnects. Default 10 s. */
  reconnectAfterMs?: number;
  /** In `reconnect` this long without a successful reconnect, the link is in `error`. Default 5 h. */
  errorAfterMs?: number;
  /** Waits before successive reconnect attempts; the last repeats. Default 0.5 s, 2 s, 10 s, 30 s, 2 min, 30 min. */
  reconnectScheduleMs?: readonly number[];
  /** Skip writes of the value last written successfully to the register. Default true. */
  skipUnchangedWrites?: boolean;
  /** Numbers within this of each other are the same value for that filter (per register: `tolerance`). Default 1e-9. */
  floatTolerance?: number;
  /** Which errors of the decorated layer are hardware faults (masked, counted). Default: `HardwareError`s. */
  isHardwareFault?: (error: unknown) => boolean;
  /** Receives the machine's inspection events (Stately inspector). */
  inspect?: (event: InspectionEvent) => void;
}

/** Every default of `HardwareRecovery`, in one place (the CLI's `--opcua-*` options take theirs from here). */
export const HARDWARE_RECOVERY_DEFAULTS = {
  name: 'hardware',
  reconnectAfterMs: 10_000,
  errorAfterMs: 5 * 60 * 60 * 1000,
  reconnectScheduleMs: DEFAULT_RECONNECT_SCHEDULE_MS,
  skipUnchangedWrites: true,
  floatTolerance: 1e-9,
} as const;

/** What the engine's connection-status tag shows. Connected while faults are masked. */
export type ConnectionStatus = 'Connected' | 'Disconnected';

/** How one reconnect attempt ended (the `reconnectResult` event). */
export type ReconnectResult = { attempt: number; ok: true } | { attempt: number; ok: false; error: unknown };

/** A fault `HardwareRecovery` saw (the `fault` event): the operation, the register and the error. */
export interface HardwareFault {
  operation: 'read' | 'write';
  registers: readonly string[];
  error: unknown;
  /** True when the engine was not told (a last-known-good value or a pending write stood in). */
  masked: boolean;
}

/** The events of `HardwareRecovery` (eventemitter3, typed). */
export interface HardwareRecoveryEvents {
  /** The link moved to another of the five states. */
  state: [change: { from: HardwareRecoveryState; to: HardwareRecoveryState }];
  connectionStatus: [status: ConnectionStatus];
  /** Reconnect attempt number `attempt` (1 = the first after entering reconnect) will be made in `delayMs`. */
  reconnectScheduled: [info: { attempt: number; delayMs: number }];
  reconnectAttempt: [info: { attempt: number; state: 'reconnect' | 'error' }];
  reconnectResult: [result: ReconnectResult];
  /** The engine's connect() failed; the link stays disconnected. */
  connectFailed: [error: unknown];
  /** A read or write failed with a hardware fault. */
  fault: [fault: HardwareFault];
  /** A read had to be masked but no value was ever read from the register: it returned null. Once per register and episode. */
  noLastKnownGood: [info: { register: string; state: HardwareRecoveryState }];
  pendingWritesFlushed: [registers: readonly string[]];
  /**
   * Pending writes were given up: masking stopped (error), the engine disconnected, or the layer refused
   * them with an error that is not a hardware fault (`rejected`, with that error: writing again cannot help).
   */
  pendingWritesDropped: [
    info: { registers: readonly string[]; reason: 'error' | 'disconnected' | 'rejected'; error?: unknown },
  ];
}

/** What `HardwareRecovery` has done so far. */
export interface HardwareRecoveryCounters {
  /** Reads answered with a last-known-good value (or null) instead of the hardware's. */
  maskedReads: number;
  /** Writes not sent because the register already holds the value. */
  skippedWrites: number;
  /** Hardware faults seen on reads and writes. */
  faults: number;
}
