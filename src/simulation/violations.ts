/** An invariant that did not hold: which, and what was seen. */
export interface Violation {
  invariant: string;
  detail: string;
}

/**
 * Where invariants report what they find. The first violation is kept (the simulation stops at the end
 * of the step that found it); reports come from inside the system's callbacks (an acknowledgement, a
 * command reaching an engine), where throwing could be caught by the code under test.
 */
export class Violations {
  first: Violation | undefined;
  count = 0;

  report(invariant: string, detail: string): void {
    this.count++;
    this.first ??= { invariant, detail };
  }
}

/** The invariants, by name, as the report shows them (written from README's promises). */
export const INVARIANTS = {
  ackedNotStored: 'nothing acknowledged that is not stored',
  exactlyOnce: 'exactly once and in order per engine',
  gapsReported: 'gaps only where the engine reported them',
  seqReused: 'a sequence number is handed out once per epoch',
  runAgreesAfterCatchUp: "after catch-up every run's state agrees with the engine's account",
  runActiveWhileUnavailable: 'no run active while its engine is unavailable',
  commandOnce: 'each command id run at most once',
  commandGate: 'no command accepted while the engine is not available',
  commandNotAccepted: 'an engine runs only commands the aggregator accepted',
  pendingWriteOutsideOk: 'hardware pending writes written only in ok',
  caughtUp: 'every live engine is available and fully acknowledged after the quiet phase',
} as const;
