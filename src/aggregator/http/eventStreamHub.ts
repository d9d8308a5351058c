import type { IncomingMessage, ServerResponse } from 'node:http';
import { AGGREGATOR_DEFAULTS } from '../aggregatorDefaults.ts';
import type { EventStreamSlots } from './eventStreamSlots.ts';
import { sendError } from './httpErrors.ts';

export interface EventStreamHubOptions {
  /**
   * The first event every stream gets: computed when a stream opens (it may read the store), reused until
   * the next broadcast.
   */
  snapshot: () => { event: string; data: unknown } | Promise<{ event: string; data: unknown }>;
  /**
   * Called when the first stream opens, to start feeding the hub (subscribe to what it broadcasts);
   * returns what stops it, called when the last stream closes.
   */
  attach?: () => () => void;
  /** Unsent bytes a stream may have waiting; a client that reads slower than that is disconnected. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Streams written to per turn of the event loop when fanning an update out. Default 200. */
  streamsPerTurn?: number;
  /** A snapshot is reused for streams opening this soon after it was made, unless an update came since. Default 100 ms. */
  snapshotMaxAgeMs?: number;
}

interface Stream {
  response: ServerResponse;
  /** Events up to this broadcast number are in its snapshot already. */
  since: number;
}

interface Pending {
  seq: number;
  text: string;
}

/** How often an idle stream gets a comment line, so that proxies do not close it. */
const KEEP_ALIVE_MS = 15_000;

const encode = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/**
 * Live updates over server-sent events to any number of streams without ever holding up the rest of the
 * aggregator: each update is encoded once, whatever the number of streams; updates broadcast in one turn
 * of the event loop go out together (an update with a key replaces the one of the same key still
 * waiting); a fan-out writes to `streamsPerTurn` streams per turn and lets ingest and heartbeats run in
 * between; a stream whose client does not read is disconnected at `maxBufferedBytes` (EventSource comes
 * back and gets a fresh snapshot). Streams take a place from the server's EventStreamSlots, or are
 * refused (429, 503) with Retry-After.
 */
export class EventStreamHub {
  private readonly options: EventStreamHubOptions;
  private readonly maxBufferedBytes: number;
  private readonly streamsPerTurn: number;
  private readonly snapshotMaxAgeMs: number;
  private readonly streams = new Set<Stream>();
  private pending: Pending[] = [];
  private readonly pendingByKey = new Map<string, Pending>();
  private seq = 0;
  private flushing = false;
  private snapshot: { text: string; at: number } | undefined;
  /** Streams waiting for their snapshot (the hub is started while any stream is open or opening). */
  private opening = 0;
  private detach: (() => void) | undefined;
  private keepAlive: NodeJS.Timeout | undefined;

  constructor(options: EventStreamHubOptions) {
    this.options = options;
    this.maxBufferedBytes = options.maxBufferedBytes ?? AGGREGATOR_DEFAULTS.eventStreams.maxBufferedBytes;
    this.streamsPerTurn = options.streamsPerTurn ?? AGGREGATOR_DEFAULTS.eventStreams.streamsPerTurn;
    this.snapshotMaxAgeMs = options.snapshotMaxAgeMs ?? AGGREGATOR_DEFAULTS.eventStreams.snapshotMaxAgeMs;
  }

  /** Streams open now. */
  get size(): number {
    return this.streams.size;
  }

  /** Answers a request for the stream: its snapshot, then every update (HEAD: the headers only). */
  open(request: IncomingMessage, response: ServerResponse, slots: EventStreamSlots): void {
    const headers = {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    };
    if (request.method === 'HEAD') {
      response.writeHead(200, headers).end();
      return;
    }
    const slot = slots.take(request);
    if (!('release' in slot)) {
      sendError(response, slot.error, { message: slot.message }, { 'retry-after': String(slot.retryAfterS) });
      return;
    }
    response.writeHead(200, headers);
    // EventSource reconnects after a second rather than its default three.
    response.write('retry: 1000\n\n');
    if (this.idle) this.start();
    this.opening++;
    let stream: Stream | undefined;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      slot.release();
      if (stream) this.streams.delete(stream);
      if (this.idle) this.stop();
    };
    request.on('close', close);
    response.on('close', close);
    this.snapshotText().then(
      (text) => {
        this.opening--;
        if (closed) {
          if (this.idle) this.stop();
          return;
        }
        response.write(text);
        // Every broadcast so far is in the snapshot: the stream gets what comes after.
        stream = { response, since: this.seq };
        this.streams.add(stream);
      },
      (error: unknown) => {
        this.opening--;
        response.destroy(error instanceof Error ? error : new Error(String(error)));
        close();
      },
    );
  }

  /** No stream open, none opening. */
  private get idle(): boolean {
    return this.streams.size === 0 && this.opening === 0;
  }

  /** The snapshot event, made anew unless the last one is recent and no broadcast came since. */
  private async snapshotText(): Promise<string> {
    const now = Date.now();
    const cached = this.snapshot;
    if (cached && now - cached.at <= this.snapshotMaxAgeMs) return cached.text;
    const seqBefore = this.seq;
    const { event, data } = await this.options.snapshot();
    const text = encode(event, data);
    if (this.seq === seqBefore) this.snapshot = { text, at: now };
    return text;
  }

  /** Sends an update to every stream; `key`: it replaces an update of the same key not yet sent. */
  broadcast(event: string, data: unknown, key?: string): void {
    this.snapshot = undefined;
    if (this.streams.size === 0) return;
    const update: Pending = { seq: ++this.seq, text: encode(event, data) };
    const waiting = key === undefined ? undefined : this.pendingByKey.get(key);
    if (waiting) {
      waiting.text = update.text;
      waiting.seq = update.seq;
    } else {
      this.pending.push(update);
      if (key !== undefined) this.pendingByKey.set(key, update);
    }
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flush());
    }
  }

  /** Closes every stream (the server is stopping). */
  close(): void {
    for (const stream of [...this.streams]) stream.response.end();
    this.stop();
  }

  private start(): void {
    this.detach = this.options.attach?.();
    this.keepAlive = setInterval(() => {
      for (const stream of this.streams) stream.response.write(': keep-alive\n\n');
    }, KEEP_ALIVE_MS);
    this.keepAlive.unref();
  }

  private stop(): void {
    this.detach?.();
    this.detach = undefined;
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
    this.pending = [];
    this.pendingByKey.clear();
  }

  /** Writes what is waiting to every stream, a slice of the streams per turn, until nothing waits. */
  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.sort((a, b) => a.seq - b.seq);
      this.pending = [];
      this.pendingByKey.clear();
      const all = batch.map((update) => update.text).join('');
      const firstSeq = batch[0]!.seq;
      const targets = [...this.streams];
      for (let i = 0; i < targets.length; i++) {
        if (i > 0 && i % this.streamsPerTurn === 0) await new Promise((resolve) => setImmediate(resolve));
        const stream = targets[i]!;
        if (!this.streams.has(stream)) continue;
        const { response } = stream;
        if (response.writableLength > this.maxBufferedBytes) {
          // A client that does not read: cut it off rather than hold its backlog.
          response.destroy();
          continue;
        }
        const text =
          stream.since < firstSeq
            ? all
            : batch
                .filter((update) => update.seq > stream.since)
                .map((update) => update.text)
                .join('');
        if (text !== '') response.write(text);
      }
    }
    this.flushing = false;
  }
}
