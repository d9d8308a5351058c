import { encodeRecordsFrame } from '../protocol/codec.ts';
import { encodeGap } from '../protocol/records.ts';
import type { EngineTransport } from '../transport/sides.ts';
import type { Outbox } from './outbox/outbox.ts';

/**
 * The frames the engine has sent on its current link and not yet seen acknowledged: at most
 * `windowFrames` of them, so that a backlog is replayed pipelined, never stop-and-wait, and an
 * aggregator that slows down (its ingest rate) slows the engine down.
 */
export class SendWindow {
  /** Highest sequence number handed to the current transport. */
  private sent = 0;
  /** Upper sequence number of each frame in flight, oldest first. */
  private inFlight: number[] = [];

  constructor(
    private readonly outbox: Outbox,
    private readonly windowFrames: number,
  ) {}

  /** The highest sequence number sent on this link: an acknowledgement beyond it is not believed. */
  get sentSeq(): number {
    return this.sent;
  }

  /** A welcome: the aggregator holds everything up to `ackSeq`; what follows is sent (again). */
  restart(ackSeq: number): void {
    this.sent = ackSeq;
    this.inFlight = [];
  }

  /** The link is gone: nothing is in flight any more. */
  clear(): void {
    this.inFlight = [];
  }

  /** The aggregator acknowledged everything up to `seq`: the frames it covers leave the window. */
  acknowledged(seq: number): void {
    while (this.inFlight.length > 0 && this.inFlight[0]! <= seq) this.inFlight.shift();
  }

  /** Sends batches after what was sent while the window has room. */
  fill(transport: EngineTransport): void {
    // The aggregator may hold less than we were told was acknowledged (a restored store): say so.
    const firstHeld = this.outbox.ackedSeq + 1;
    if (this.sent + 1 < firstHeld) {
      const from = this.sent + 1;
      transport.sendText(encodeRecordsFrame(from, encodeGap(from, firstHeld - 1, 0, 'acknowledged-lost')));
      this.sent = firstHeld - 1;
      this.inFlight.push(this.sent);
    }
    while (this.inFlight.length < this.windowFrames) {
      const batch = this.outbox.nextBatch(this.sent);
      if (!batch) break;
      transport.sendText(encodeRecordsFrame(batch.from, batch.text));
      this.sent = batch.to;
      this.inFlight.push(batch.to);
    }
  }
}
