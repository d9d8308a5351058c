import type { IncomingMessage } from 'node:http';
import WebSocket, { type RawData } from 'ws';
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/codec.ts';
import { CloseCode, ErrorCode, ProtocolError } from '../protocol/errors.ts';
import { checkDuration } from '../time/timerBounds.ts';
import {
  AggregatorSideTransport,
  type Connector,
  type ConnectRequest,
  EngineSideTransport,
} from './sides.ts';

/** The path an engine connects to; its id is part of the URL so the upgrade can be authorised. */
export function enginePath(engineId: string): string {
  return `/engines/${encodeURIComponent(engineId)}/link`;
}

/** Reads the engine id back from an upgrade request's URL, or undefined when the path is not a link. */
export function engineIdFromPath(url: string | undefined): string | undefined {
  const match = /^\/engines\/([^/?]+)\/link(?:\?.*)?$/.exec(url ?? '');
  if (!match?.[1]) return undefined;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return undefined;
  }
}

export function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  const match = header ? /^Bearer\s+(.+)$/i.exec(header) : null;
  return match?.[1];
}

/**
 * Ends a socket without waiting on the peer: a peer that never answered, or stopped answering (heartbeat
 * timeout, code 4000), is cut at once; otherwise the close handshake gets one second, since a half-open
 * peer never completes it.
 */
function closeSocket(socket: WebSocket, code: number, reason: string): void {
  if (socket.readyState === WebSocket.CONNECTING || code === CloseCode.HeartbeatTimeout) {
    socket.terminate();
    return;
  }
  socket.close(code, reason);
  setTimeout(() => socket.terminate(), 1000).unref();
}

function toText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/** Options of the `WebSocketConnector`. */
export interface WebSocketConnectorOptions {
  maxFrameBytes?: number;
  handshakeTimeoutMs?: number;
  /**
   * Certificates (PEM) to trust for a `wss://` aggregator, in place of the system's certificate
   * authorities: the aggregator's own certificate when it is self-signed, or the CA that signed it.
   */
  ca?: string | Buffer | Array<string | Buffer>;
}

/** The engine's end of a WebSocket link. */
export class WebSocketEngineTransport extends EngineSideTransport {
  private readonly socket: WebSocket;
  private connectError: string | undefined;

  constructor(url: string, request: ConnectRequest, options: WebSocketConnectorOptions) {
    super(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    const headers: Record<string, string> = {};
    if (request.token) headers.authorization = `Bearer ${request.token}`;
    const target = new URL(enginePath(request.engineId), url);
    this.socket = new WebSocket(target, {
      headers,
      maxPayload: this.maxFrameBytes,
      handshakeTimeout: options.handshakeTimeoutMs ?? 5000,
      perMessageDeflate: false,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    });
    this.socket.on('open', () => this.handleOpen());
    this.socket.on('message', (data) => this.handleFrame(toText(data)));
    this.socket.on('close', (code, reason) => {
      // A connect that failed (refused, unreachable, TLS certificate not trusted): ws reports why in the
      // `error` before this close, which itself carries no reason.
      const failure = this.state === 'connecting' ? this.connectError : undefined;
      this.handleClose(
        failure === undefined
          ? { code, reason: reason.toString() }
          : { code, reason: failure, refused: { status: 0, message: failure } },
      );
    });
    this.socket.on('unexpected-response', (_req, res) => {
      const retryAfter = Number(res.headers['retry-after']);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 4096) body += chunk;
      });
      res.on('end', () => {
        const message = body.trim() || res.statusMessage || `HTTP ${res.statusCode}`;
        this.handleClose({
          code: 1006,
          reason: message,
          refused: {
            status: res.statusCode ?? 0,
            message,
            retryAfterMs: Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined,
          },
        });
        this.socket.terminate();
      });
    });
    this.socket.on('error', (error) => {
      this.connectError ??= explainConnectError(target, error.message);
      // A failed connect or a broken socket: ws follows with `close`; make sure we report it once.
      if (this.socket.readyState === WebSocket.CLOSED) {
        const message = explainConnectError(target, error.message);
        this.handleClose({ code: 1006, reason: message, refused: { status: 0, message } });
      }
    });
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  protected write(text: string): void {
    this.socket.send(text);
  }

  protected end(code: number, reason: string): void {
    closeSocket(this.socket, code, reason);
    this.handleClose({ code, reason });
  }
}

/**
 * The aggregator's URL as a connector takes it: `ws://` or `wss://` (TypeError otherwise, at once, rather
 * than from inside the link machine at the first connect).
 */
export function aggregatorUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(
      `aggregator URL ${JSON.stringify(text)} is not a URL: give ws://host:port or wss://host:port`,
    );
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:')
    throw new TypeError(
      `aggregator URL ${JSON.stringify(text)} must start with ws:// (or wss:// with TLS), not ${url.protocol}//`,
    );
  return url;
}

/**
 * Why a connect failed, with a hint when the scheme looks wrong: a plain `ws://` connect to a TLS server
 * is hung up on, and a `wss://` connect to a plain server fails its TLS handshake.
 */
function explainConnectError(url: URL, message: string): string {
  if (url.protocol === 'ws:' && /socket hang up|ECONNRESET/.test(message))
    return `${message} (if the aggregator serves TLS, connect with wss:// instead of ws://)`;
  if (url.protocol === 'wss:' && /wrong version number|packet length too long|EPROTO/i.test(message))
    return `${message} (the aggregator does not seem to serve TLS: connect with ws:// instead of wss://)`;
  return message;
}

export class WebSocketConnector implements Connector {
  private readonly url: string;

  constructor(
    url: string,
    private readonly options: WebSocketConnectorOptions = {},
  ) {
    this.url = aggregatorUrl(url).href;
    checkDuration('handshakeTimeoutMs', options.handshakeTimeoutMs, 1);
  }

  /** The aggregator's URL. */
  get target(): string {
    return this.url;
  }

  /** @internal */
  connect(request: ConnectRequest): WebSocketEngineTransport {
    return new WebSocketEngineTransport(this.url, request, this.options);
  }
}

/** The aggregator's end of a WebSocket link, wrapping a socket accepted by a `ws` server. */
export class WebSocketAggregatorTransport extends AggregatorSideTransport {
  constructor(
    private readonly socket: WebSocket,
    maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
  ) {
    super(maxFrameBytes);
    socket.on('message', (data) => this.handleFrame(toText(data)));
    socket.on('close', (code, reason) => this.handleClose({ code, reason: reason.toString() }));
    socket.on('error', (error: Error & { code?: string }) => {
      // `ws` closes the socket after an error; `close` reports it. An oversize frame is cut off in the ws
      // parser (the peer gets close 1009, we get 1006) and never reaches handleFrame: report it as the
      // codec would have.
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' && this.state === 'open')
        this.emit(
          'protocolError',
          new ProtocolError(
            ErrorCode.FrameTooLarge,
            `frame exceeds the limit of ${this.maxFrameBytes} bytes`,
          ),
        );
    });
    this.handleOpen();
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  protected write(text: string): void {
    this.socket.send(text);
  }

  protected end(code: number, reason: string): void {
    closeSocket(this.socket, code, reason);
    this.handleClose({ code, reason });
  }
}
