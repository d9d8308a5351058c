import type { EngineRecord } from '../protocol/records.ts';

/**
 * What engine code sees: a place to send records. The plain dispatcher and the resilient one both
 * implement it, so swapping one for the other changes no engine code.
 */
export interface EngineDispatcher {
  readonly engineId: string;
  /** Hands a record over. Returns at once; never throws or blocks because of the network. */
  send(record: EngineRecord): void;
  /** Stops sending and releases the link. */
  close(): Promise<void>;
}
