import type { InspectionEvent } from 'xstate';
import type { EngineDispatcher } from '../engine/dispatcher.ts';
import { HardwareRecovery } from '../hardware/hardwareRecovery.ts';
import { reportHardwareState } from '../hardware/reportHardwareState.ts';
import { SimulatedHardware } from '../hardware/simulatedHardware.ts';

export interface DemoPump {
  readonly recovery: HardwareRecovery;
  /** Pulls the pump's cable (`true`) or plugs it back in. */
  setBroken(broken: boolean): void;
  stop(): Promise<void>;
}

const SPEED = { name: 'speed', direction: 'read' } as const;

/**
 * A simulated pump behind the hardware recovery decorator, read twice a second, whose state the engine
 * reports to the aggregator (`hardware.pump`), so the demo's dashboard shows a hardware link that goes
 * to issue, reconnect and back to ok when the demo breaks it.
 */
export function demoPump(
  dispatcher: EngineDispatcher,
  options: { inspect?: (event: InspectionEvent) => void } = {},
): DemoPump {
  const pump = new SimulatedHardware([{ ...SPEED, value: 120 }]);
  const recovery = new HardwareRecovery(pump, {
    name: 'pump',
    reconnectAfterMs: 3000,
    inspect: options.inspect,
  });
  const stopReporting = reportHardwareState(recovery, dispatcher);
  void recovery.connect();
  const reader = setInterval(() => {
    if (recovery.usable) recovery.read(SPEED).catch(() => {});
  }, 500);
  return {
    recovery,
    setBroken: (broken) => (broken ? pump.breakLink() : pump.repairLink()),
    stop: async () => {
      clearInterval(reader);
      stopReporting();
      await recovery.disconnect();
    },
  };
}
