import type { AnyStateMachine } from 'xstate';
import { engineLinkMachine } from '../../machines/engineLink.ts';
import { engineSessionMachine } from '../../machines/engineSession.ts';
import { hardwareRecoveryMachine } from '../../machines/hardwareRecovery.ts';
import { offlineWatchMachine } from '../../machines/offlineWatch.ts';
import { runReconciliationMachine } from '../../machines/runReconciliation.ts';

/** A machine drawn into `diagrams/<machine.id>.mmd` by `npm run diagrams`. */
export interface DiagramEntry {
  readonly machine: AnyStateMachine;
  /** The file that defines it, relative to the repository root. */
  readonly source: string;
  /** One line for diagrams/README.md. */
  readonly description: string;
}

/** Every machine of machines/, in the order of the design's table. Add new machines here. */
export const diagramEntries: readonly DiagramEntry[] = [
  {
    machine: engineLinkMachine,
    source: 'machines/engineLink.ts',
    description:
      "The engine's side of the link to its aggregator: connect, flush the backlog, buffer through outages.",
  },
  {
    machine: offlineWatchMachine,
    source: 'machines/offlineWatch.ts',
    description:
      "How long the engine's link has been down against `maxOfflineMs`: offline too long (once per outage), online again.",
  },
  {
    machine: engineSessionMachine,
    source: 'machines/engineSession.ts',
    description:
      "The aggregator's view of one engine: offline, catching up, available (takes commands), unavailable.",
  },
  {
    machine: runReconciliationMachine,
    source: 'machines/runReconciliation.ts',
    description:
      "The aggregator's belief about one run: active, unconfirmed while its engine is away, then completed, failed or interrupted.",
  },
  {
    machine: hardwareRecoveryMachine,
    source: 'machines/hardwareRecovery.ts',
    description:
      "The engine's link to one hardware layer: faults masked in issue and reconnect, surfaced in error.",
  },
];
