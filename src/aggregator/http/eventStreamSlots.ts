import type { IncomingMessage } from 'node:http';
import { AGGREGATOR_DEFAULTS } from '../aggregatorDefaults.ts';

/** Bounds on live-update streams (server-sent events) open at once. */
export interface EventStreamLimits {
  /** Live-update streams open at once, over every event stream route. Default 256. */
  maxStreams?: number;
  /** Live-update streams open at once from one client address. Default 16 (a few browser tabs). */
  maxStreamsPerClient?: number;
}

/** A stream's place, given back when it closes. */
export interface EventStreamSlot {
  release(): void;
}

/** Why a stream was refused: every place taken (503), or this client holds its share (429). */
export interface EventStreamRefusal {
  error: 'tooManyStreams' | 'tooManyStreamsFromClient';
  message: string;
  /** Seconds to wait before trying again. */
  retryAfterS: number;
}

function checkLimit(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${name} must be a whole number of streams of at least 1 (got ${value})`);
  return value;
}

/**
 * The places for live-update streams (server-sent events): a bound on all of them together and on those
 * of one client address, so that subscribers can never pile up without limit. A refused stream is told
 * when to come back (EventSource does so by itself).
 */
export class EventStreamSlots {
  readonly maxStreams: number;
  readonly maxStreamsPerClient: number;
  private open = 0;
  private readonly byClient = new Map<string, number>();

  constructor(limits: EventStreamLimits = {}) {
    this.maxStreams = checkLimit(
      'maxStreams',
      limits.maxStreams ?? AGGREGATOR_DEFAULTS.eventStreams.maxStreams,
    );
    this.maxStreamsPerClient = checkLimit(
      'maxStreamsPerClient',
      limits.maxStreamsPerClient ?? AGGREGATOR_DEFAULTS.eventStreams.maxStreamsPerClient,
    );
  }

  /** Streams open now. */
  get size(): number {
    return this.open;
  }

  /** A place for a stream of this request's client, or why there is none. */
  take(request: IncomingMessage): EventStreamSlot | EventStreamRefusal {
    const client = request.socket.remoteAddress ?? 'unknown';
    const ofClient = this.byClient.get(client) ?? 0;
    if (ofClient >= this.maxStreamsPerClient)
      return {
        error: 'tooManyStreamsFromClient',
        message: `${client} already has ${ofClient} live-update streams open, the most one client may (--max-event-streams-per-client)`,
        retryAfterS: 5,
      };
    if (this.open >= this.maxStreams)
      return {
        error: 'tooManyStreams',
        message: `${this.open} live-update streams are open, the most this aggregator serves (--max-event-streams)`,
        retryAfterS: 5,
      };
    this.open++;
    this.byClient.set(client, ofClient + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.open--;
        const left = (this.byClient.get(client) ?? 1) - 1;
        if (left > 0) this.byClient.set(client, left);
        else this.byClient.delete(client);
      },
    };
  }
}
