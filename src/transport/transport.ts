import { EventEmitter } from 'eventemitter3';
import { encodeMessage } from '../protocol/codec.ts';
import { ProtocolError } from '../protocol/errors.ts';
import type { AggregatorMessage, EngineMessage } from '../protocol/messages.ts';

/** Why a connection ended. `refused` is set when the peer refused to open it at all. */
export interface CloseInfo {
  code: number;
  reason: string;
  refused?: { status: number; message: string; retryAfterMs?: number };
}

export type TransportState = 'connecting' | 'open' | 'closed';

export interface TransportEvents<In> {
  open: [];
  message: [message: In];
  /** A frame that could not be decoded; the transport answers it and may close. */
  protocolError: [error: ProtocolError];
  close: [info: CloseInfo];
}

export type FrameDecoder<In> = (raw: string | Buffer, maxFrameBytes: number) => In;

/**
 * The non-network half of a connection: framing, validation of every incoming frame, the frame size
 * limit, and a single close notification. Subclasses move text frames over a real or simulated network.
 */
export abstract class Transport<In, Out extends EngineMessage | AggregatorMessage> extends EventEmitter<
  TransportEvents<In>
> {
  private currentState: TransportState = 'connecting';

  constructor(
    private readonly decodeFrame: FrameDecoder<In>,
    readonly maxFrameBytes: number,
  ) {
    super();
  }

  get state(): TransportState {
    return this.currentState;
  }

  /** Sends a message; returns false (and sends nothing) when the connection is not open. */
  send(message: Out): boolean {
    return this.sendText(encodeMessage(message));
  }

  /** Sends an already-encoded frame; returns false when the connection is not open. */
  sendText(text: string): boolean {
    if (this.currentState !== 'open') return false;
    this.write(text);
    return true;
  }

  /** Ends the connection; the `close` event follows once. */
  close(code = 1000, reason = ''): void {
    if (this.currentState === 'closed') return;
    this.end(code, reason);
  }

  /** Bytes written but not yet handed to the network. */
  abstract get bufferedAmount(): number;
  protected abstract write(text: string): void;
  protected abstract end(code: number, reason: string): void;

  protected handleOpen(): void {
    if (this.currentState !== 'connecting') return;
    this.currentState = 'open';
    this.emit('open');
  }

  protected handleFrame(raw: string | Buffer): void {
    if (this.currentState !== 'open') return;
    let message: In;
    try {
      message = this.decodeFrame(raw, this.maxFrameBytes);
    } catch (error) {
      if (error instanceof ProtocolError) {
        this.emit('protocolError', error);
        return;
      }
      throw error;
    }
    this.emit('message', message);
  }

  protected handleClose(info: CloseInfo): void {
    if (this.currentState === 'closed') return;
    this.currentState = 'closed';
    this.emit('close', info);
  }
}
