import type { StatelyInspectionEvent } from '@statelyai/inspect';
import WebSocket from 'ws';
import type { WebSocketInspectorAdapterOptions } from './inspectorOptions.ts';

export type { WebSocketInspectorAdapterOptions };

/**
 * Carries Stately inspection events to a WebSocket receiver as JSON text frames, the wire format of
 * `createWebSocketInspector` from `@statelyai/inspect`, so the Stately inspector and its relay server
 * read them as they are. Unlike that function's own adapter it reconnects after any close (not only
 * after an error), with backoff; sends what it buffered once, not again on every reconnect; never keeps
 * the process alive while it waits to reconnect (the timer is unref'd); and `stop()` stops it for good.
 */
export class WebSocketInspectorAdapter {
  readonly url: string;
  private socket: WebSocket | undefined;
  private buffered: string[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs: number;
  private stopped = false;
  private open = false;
  /** Events dropped: the buffer was full while the receiver was away, or the event was not JSON. */
  dropped = 0;
  private readonly maxBuffered: number;
  private readonly retry: { initial: number; max: number };
  private readonly onStatus: WebSocketInspectorAdapterOptions['onStatus'];

  constructor(options: WebSocketInspectorAdapterOptions) {
    this.url = options.url;
    this.maxBuffered = options.maxBufferedEvents ?? 1000;
    this.retry = options.retryMs ?? { initial: 1000, max: 10_000 };
    this.retryDelayMs = this.retry.initial;
    this.onStatus = options.onStatus;
  }

  /** Whether the receiver is connected now. */
  get connected(): boolean {
    return this.open;
  }

  start(): void {
    if (this.stopped || this.socket) return;
    const socket = new WebSocket(this.url, { handshakeTimeout: 5000 });
    this.socket = socket;
    socket.on('open', () => {
      this.open = true;
      this.retryDelayMs = this.retry.initial;
      this.onStatus?.({ connected: true, url: this.url });
      for (const text of this.buffered.splice(0)) socket.send(text);
    });
    socket.on('message', () => {
      // Receivers may talk back; nothing they say is needed here.
    });
    socket.on('error', (error) => {
      if (!this.open) this.onStatus?.({ connected: false, url: this.url, error });
    });
    socket.on('close', () => {
      const wasOpen = this.open;
      this.open = false;
      this.socket = undefined;
      if (wasOpen) this.onStatus?.({ connected: false, url: this.url });
      this.scheduleReconnect();
    });
  }

  send(event: StatelyInspectionEvent): void {
    if (this.stopped) return;
    let text: string;
    try {
      text = JSON.stringify(event);
    } catch {
      // A snapshot that cannot be written as JSON (a cycle): the inspector misses this one event.
      this.dropped++;
      return;
    }
    if (this.open && this.socket) {
      this.socket.send(text);
      return;
    }
    this.buffered.push(text);
    if (this.buffered.length > this.maxBuffered) {
      this.buffered.shift();
      this.dropped++;
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.buffered = [];
    const socket = this.socket;
    this.socket = undefined;
    this.open = false;
    if (socket) {
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
      else socket.close(1000, 'inspection stopped');
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retry.max, this.retryDelayMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.start();
    }, delay);
    this.retryTimer.unref();
  }
}
