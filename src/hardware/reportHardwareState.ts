import type { HardwareRecoveryState } from '../../machines/hardwareRecovery.ts';
import type { EngineDispatcher } from '../engine/dispatcher.ts';
import type { HardwareRecovery } from './hardwareRecovery.ts';
import type { ConnectionStatus } from './hardwareRecoveryOptions.ts';

/** The value of the state record that carries a hardware link's state to the aggregator. */
export type HardwareStateValue = { state: HardwareRecoveryState; connection: ConnectionStatus };

/**
 * Sends the hardware link's state to the aggregator as a state record (latest value wins), so the
 * dashboard can show it: `{ kind: 'state', key, value: { state, connection } }`, once now and again on
 * every state change, through any `EngineDispatcher` (the resilient one keeps it through outages).
 * Returns a function that stops reporting.
 */
export function reportHardwareState(
  recovery: HardwareRecovery,
  dispatcher: EngineDispatcher,
  key = `hardware.${recovery.name}`,
): () => void {
  const report = () => {
    const value: HardwareStateValue = { state: recovery.state, connection: recovery.connectionStatus };
    dispatcher.send({ kind: 'state', key, value });
  };
  report();
  recovery.on('state', report);
  return () => {
    recovery.off('state', report);
  };
}
