import { sealFrame } from '../../src/protocol/codec.ts';
import type { AggregatorMessage } from '../../src/protocol/messages.ts';
import type { Item } from '../../src/protocol/records.ts';
import type { EngineTransport } from '../../src/transport/sides.ts';
import type { CloseInfo } from '../../src/transport/transport.ts';

/** How long a test waits for something the peer should do at once before failing with a clear message. */
const WAIT_LIMIT_MS = 5000;

type MessageOf<T extends AggregatorMessage['type']> = Extract<AggregatorMessage, { type: T }>;

/**
 * An engine driven by hand: frames out through `sendText`, sealed with their checksum by the codec
 * (`send`) or exactly as given (`sendRaw`, for malformed and corrupted frames), every aggregator message
 * recorded. Waits resolve on the awaited event itself (never on elapsed time); the wall-clock limit only
 * turns a hang into a readable failure.
 */
export class HandEngine {
  readonly received: AggregatorMessage[] = [];
  opened = false;
  closeInfo: CloseInfo | undefined;
  /** Answer pings with pongs, like a live engine. */
  autoPong: boolean;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly transport: EngineTransport,
    options: { autoPong?: boolean } = {},
  ) {
    this.autoPong = options.autoPong ?? false;
    transport.on('open', () => {
      this.opened = true;
      this.wake();
    });
    transport.on('message', (message) => {
      this.received.push(message);
      if (message.type === 'ping' && this.autoPong) this.send({ type: 'pong', t: message.t });
      this.wake();
    });
    transport.on('close', (info) => {
      this.closeInfo = info;
      this.wake();
    });
  }

  /** Sends `text` as it is: no checksum is added (a frame without one is refused as `bad-checksum`). */
  sendRaw(text: string): boolean {
    return this.transport.sendText(text);
  }

  /** Sends any object (a valid message or not) as the codec would: JSON with its checksum. */
  send(message: Record<string, unknown>): boolean {
    return this.sendRaw(sealFrame(JSON.stringify(message)));
  }

  hello(engineId: string, epoch: string, lastSeq: number, extra: Record<string, unknown> = {}): boolean {
    return this.send({ type: 'hello', v: 1, engineId, epoch, lastSeq, ...extra });
  }

  records(from: number, items: Item[]): boolean {
    return this.send({ type: 'records', from, items });
  }

  all<T extends AggregatorMessage['type']>(type: T): MessageOf<T>[] {
    return this.received.filter((m): m is MessageOf<T> => m.type === type);
  }

  last<T extends AggregatorMessage['type']>(type: T): MessageOf<T> | undefined {
    return this.all(type).at(-1);
  }

  /** Resolves once `predicate` holds, re-checked after every event of the transport. */
  until<T>(what: string, predicate: () => T | undefined | false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        const value = predicate();
        if (value === undefined || value === false) return false;
        this.waiters.delete(check);
        clearTimeout(limit);
        resolve(value);
        return true;
      };
      const limit = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `timed out waiting for ${what}; received ${JSON.stringify(this.received)}, close ${JSON.stringify(this.closeInfo)}`,
          ),
        );
      }, WAIT_LIMIT_MS);
      if (!check()) this.waiters.add(check);
    });
  }

  /** Resolves when the link opens; rejects when it closed (or was refused) instead. */
  async opening(): Promise<void> {
    await this.until('open', () => this.opened || this.closeInfo !== undefined);
    if (!this.opened) throw new Error(`link did not open: ${JSON.stringify(this.closeInfo)}`);
  }

  /** The n-th (1-based) message of a type. */
  nth<T extends AggregatorMessage['type']>(type: T, n: number): Promise<MessageOf<T>> {
    return this.until(`${type} #${n}`, () => this.all(type)[n - 1]);
  }

  ackAtLeast(seq: number): Promise<MessageOf<'ack'>> {
    return this.until(`ack ${seq}`, () => this.all('ack').find((a) => a.seq >= seq));
  }

  error(code: string): Promise<MessageOf<'error'>> {
    return this.until(`error ${code}`, () => this.all('error').find((e) => e.code === code));
  }

  closed(): Promise<CloseInfo> {
    return this.until('close', () => this.closeInfo);
  }

  private wake(): void {
    for (const check of [...this.waiters]) check();
  }
}

/** `n` sample items with distinct values, starting at value `start`. */
export function samples(n: number, start = 0): Item[] {
  return Array.from(
    { length: n },
    (_, i): Item => ['s', `tag${(start + i) % 3}`, 1_767_225_600_000 + start + i, start + i],
  );
}
