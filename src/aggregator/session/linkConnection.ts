import type { Logger } from 'pino';
import { CloseCode, closeCodeFor, ErrorCode, ProtocolError } from '../../protocol/errors.ts';
import { type EngineMessage, type Hello, PROTOCOL_VERSION } from '../../protocol/messages.ts';
import type { Clock } from '../../time/clock.ts';
import { SilenceWatchdog } from '../../time/silenceWatchdog.ts';
import type { AggregatorTransport } from '../../transport/sides.ts';

/**
 * Messages a link may have waiting while its records frames are being committed. An engine keeps a
 * bounded window of unacknowledged frames (8 by default), so an engine that keeps to the protocol
 * never comes near this.
 */
export const MAX_WAITING_MESSAGES = 256;

/**
 * Records frames of one link committing at once, at most: a link that sends more without waiting for
 * acknowledgements has the rest wait behind them (up to MAX_WAITING_MESSAGES). Above the engine's window
 * (8 frames by default, a few more when configured), so that a backlog goes into the store several frames
 * to a commit.
 */
export const MAX_FRAMES_IN_FLIGHT = 32;

/** A frame for the session: a message, or what was wrong with an unreadable one. */
export type Inbound = { message: EngineMessage } | { error: ProtocolError };

/** How the link's transport is closed when it ends. */
export interface CloseWith {
  code: number;
  reason: string;
}

export interface LinkConnectionOptions {
  transport: AggregatorTransport;
  clock: Clock;
  /** Silence (nothing at all received) after which the link counts as lost. */
  heartbeatTimeoutMs: number;
  /** The wait asked of an engine told `busy`. */
  busyRetryAfterMs: number;
  logger: Logger;
  /** Handles one frame, in arrival order: at once, or once the frames in flight before it are answered. */
  handle(connection: LinkConnection, inbound: Inbound): void;
  /**
   * Whether a frame may be handled while records frames are in flight: a records frame that goes to the
   * group commit behind them (which answers a link's frames in order), so that a backlog is committed
   * several frames to a group instead of one frame per commit. Anything else waits for their answers.
   */
  joinsInFlight(connection: LinkConnection, inbound: Inbound): boolean;
  /** Tells the operator (log, events) what was wrong with a frame. */
  report(error: ProtocolError): void;
  /** The link has ended (before its transport is closed): `lostReason` when it ended without a goodbye. */
  ended(connection: LinkConnection, lostReason: string | undefined): void;
}

/** The message of a protocol error without the code prefix `ProtocolError` adds. */
export function plainMessage(error: ProtocolError): string {
  const prefix = `${error.code}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}

/**
 * One accepted transport of an engine, and the order of its frames. A link's answers go out in the order
 * of its frames: while records frames are being committed (`framesInFlight`), records frames that can
 * follow them join the group commit at once (it answers them in order), and any other frame after them
 * waits here (at most MAX_WAITING_MESSAGES; one more is told `busy` and the link closed) and are handled once
 * those are answered. It watches the engine for silence, tells it what was wrong with a frame, and ends
 * once: replaced, closed, silent, failed or stopped.
 */
export class LinkConnection {
  readonly transport: AggregatorTransport;
  /** The epoch named by its hello; undefined until then. */
  epoch: string | undefined;
  /** When an acknowledgement last went out (it feeds the engine's silence watchdog as a ping would). */
  lastAckAt = Number.NEGATIVE_INFINITY;
  private readonly options: LinkConnectionOptions;
  private readonly watchdog: SilenceWatchdog;
  private over = false;
  /** Records frames handed to the group commit and not yet answered. */
  private inFlight = 0;
  /** Frames received while records frames are in flight, handled in order once those are answered. */
  private readonly inbox: Inbound[] = [];

  constructor(options: LinkConnectionOptions) {
    this.options = options;
    this.transport = options.transport;
    this.watchdog = new SilenceWatchdog({
      clock: options.clock,
      timeoutMs: options.heartbeatTimeoutMs,
      onSilence: (silentMs) => {
        options.logger.warn({ silentMs }, 'heartbeat timeout: the link is lost');
        // The transports terminate on this code: a half-open peer cannot complete a close handshake.
        this.end('heartbeat timeout', { code: CloseCode.HeartbeatTimeout, reason: 'heartbeat timeout' });
      },
    });
    this.watchdog.start();
  }

  /** No longer the engine's link: its events are ignored, its frames not answered. */
  get ended(): boolean {
    return this.over;
  }

  /** Records frames of this link being committed. */
  get framesInFlight(): number {
    return this.inFlight;
  }

  /** Something arrived from the engine. */
  heard(): void {
    this.watchdog.heard();
  }

  /**
   * Handles a frame now, or after the link's frames in flight are answered (a records frame that can
   * follow them into the group commit is handled now).
   */
  receive(inbound: Inbound): void {
    if (
      this.inbox.length === 0 &&
      (this.inFlight === 0 ||
        (this.inFlight < MAX_FRAMES_IN_FLIGHT && this.options.joinsInFlight(this, inbound)))
    ) {
      this.options.handle(this, inbound);
      return;
    }
    if (this.inbox.length >= MAX_WAITING_MESSAGES) {
      this.fail(
        new ProtocolError(
          ErrorCode.Busy,
          `${MAX_WAITING_MESSAGES} frames are waiting for earlier ones to be stored: wait for ` +
            'acknowledgements before sending more; frames not acknowledged were not stored, send them again',
        ),
        this.options.busyRetryAfterMs,
      );
      return;
    }
    this.inbox.push(inbound);
  }

  /** A frame that must be answered after the frames in flight: back at the head of the inbox. */
  deferUntilAnswered(inbound: Inbound): void {
    this.inbox.unshift(inbound);
  }

  /** A records frame was handed to the group commit. */
  submitted(): void {
    this.inFlight++;
  }

  /** A records frame was answered: once none is in flight, the frames that waited behind it are handled. */
  answered(): void {
    this.inFlight--;
    while (!this.over && this.inFlight === 0 && this.inbox.length > 0)
      this.options.handle(this, this.inbox.shift()!);
  }

  /**
   * Whether a hello may open this link for `engineId`: the first on the link, of this protocol version,
   * naming the engine the link was authorised for. Otherwise the engine is told why (and, for the version
   * and the engine id, the link is closed).
   */
  acceptsHello(hello: Hello, engineId: string): boolean {
    if (this.epoch !== undefined) {
      this.tell(new ProtocolError(ErrorCode.InvalidMessage, 'hello was already received on this link'));
      return false;
    }
    if (hello.v !== PROTOCOL_VERSION) {
      this.fail(
        new ProtocolError(
          ErrorCode.UnsupportedVersion,
          `protocol version ${hello.v} is not supported; this aggregator speaks version ${PROTOCOL_VERSION}`,
        ),
      );
      return false;
    }
    if (hello.engineId !== engineId) {
      this.fail(
        new ProtocolError(
          ErrorCode.EngineMismatch,
          `hello names engine ${hello.engineId}, but this link was authorised for engine ${engineId}`,
        ),
      );
      return false;
    }
    return true;
  }

  /** Acknowledges everything up to `seq` (unless the link has ended). */
  acknowledge(seq: number, now: number): void {
    if (this.over) return;
    this.transport.send({ type: 'ack', seq });
    this.lastAckAt = now;
  }

  /** Runs `work` for a frame: a protocol error it throws is answered, anything else is an internal error. */
  guarded(work: () => void): void {
    try {
      work();
    } catch (error) {
      if (error instanceof ProtocolError) {
        this.fail(error);
        return;
      }
      this.options.logger.error({ err: error }, 'could not handle a frame');
      this.fail(new ProtocolError(ErrorCode.Internal, `the aggregator failed: ${(error as Error).message}`));
    }
  }

  /** Tells the engine what was wrong with one frame; the link stays open. */
  tell(error: ProtocolError, retryAfterMs?: number): void {
    this.options.report(error);
    this.transport.send(
      retryAfterMs === undefined
        ? { type: 'error', code: error.code, message: plainMessage(error) }
        : { type: 'error', code: error.code, message: plainMessage(error), retryAfterMs },
    );
  }

  /** Tells the engine what was wrong and closes the link with the matching close code. */
  fail(error: ProtocolError, retryAfterMs?: number): void {
    this.tell(error, retryAfterMs);
    this.end(`closed after ${error.code}`, {
      code: closeCodeFor(error.code),
      reason: plainMessage(error).slice(0, 120),
    });
  }

  /**
   * Ends the link (once): its watchdog stops, frames waiting behind frames in flight are dropped (never
   * acknowledged, the engine sends them again), the session is told, then the transport is closed with
   * `close` when given.
   */
  end(lostReason: string | undefined, close?: CloseWith): void {
    if (this.over) return;
    this.over = true;
    this.watchdog.stop();
    this.inbox.length = 0;
    this.options.ended(this, lostReason);
    if (close) this.transport.close(close.code, close.reason);
  }
}
