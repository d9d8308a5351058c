import type { EngineLinkEvent } from '../../../machines/engineLink.ts';
import type { EngineSessionEvent } from '../../../machines/engineSession.ts';
import type { HardwareRecoveryEvent } from '../../../machines/hardwareRecovery.ts';
import type { RunReconciliationEvent } from '../../../machines/runReconciliation.ts';

/**
 * The concrete events the model tests send, for the events that carry a payload; events without one
 * are generated as `{ type }` by `transitionCoveringPaths`. Every guard gets values on both sides of its
 * boundary (`backlog > 0`: 0 and 1; `lastSeq > persistedSeq`: equal and one more; `seq >= targetSeq`: one
 * less, equal, one more), and every payload that changes an effect gets a value that shows it
 * (`retryAfterMs` above and below the backoff it competes with).
 */
export const engineLinkModelEvents: readonly EngineLinkEvent[] = [
  { type: 'WELCOME', backlog: 0 },
  { type: 'WELCOME', backlog: 1 },
  { type: 'WELCOME', backlog: 5 },
  { type: 'SOCKET_CLOSED' },
  { type: 'SOCKET_CLOSED', retryAfterMs: 2000 },
  { type: 'SOCKET_CLOSED', retryAfterMs: 100 },
  { type: 'REJECTED', message: '401 invalid token' },
  { type: 'REJECTED', message: '404 not an engine link' },
];

export const engineSessionModelEvents: readonly EngineSessionEvent[] = [
  { type: 'HELLO', lastSeq: 10, persistedSeq: 10 },
  { type: 'HELLO', lastSeq: 10, persistedSeq: 9 },
  { type: 'HELLO', lastSeq: 10, persistedSeq: 4 },
  { type: 'PERSISTED', seq: 9 },
  { type: 'PERSISTED', seq: 10 },
  { type: 'PERSISTED', seq: 11 },
  { type: 'LINK_LOST', reason: 'heartbeat timeout' },
];

export const runReconciliationModelEvents: readonly RunReconciliationEvent[] = [
  { type: 'RUN_COMPLETED', endedAt: 2000 },
  { type: 'RUN_FAILED', endedAt: 2000, reason: 'simulated failure' },
];

/** No hardwareRecovery event carries a payload (nor has a guard): every one is generated as `{ type }`. */
export const hardwareRecoveryModelEvents: readonly HardwareRecoveryEvent[] = [];
