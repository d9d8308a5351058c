import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

/**
 * A child Node process running a TypeScript file (tsx), spoken to over IPC: requests with answers, and
 * events the child tells when they happen (so the parent waits for events, never for time).
 */
export interface IpcChild {
  child: ChildProcess;
  /** Sends `{ op, ...args }` and resolves with the child's answer. */
  request<T>(op: string, args?: Record<string, unknown>): Promise<T>;
  /** Resolves with the next event named `name` (or one already received and not yet taken). */
  event<T>(name: string): Promise<T>;
  exited: Promise<number | null>;
  stderr(): string;
}

interface Envelope {
  id?: number;
  event?: string;
  result?: unknown;
  error?: string;
  data?: unknown;
}

export function startIpcChild(file: string, args: string[]): IpcChild {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    if (err.length < 200_000) err += chunk;
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const events = new Map<string, unknown[]>();
  const waiting = new Map<string, Array<(data: unknown) => void>>();
  child.on('message', (message: Envelope) => {
    if (message.id !== undefined) {
      const p = pending.get(message.id);
      pending.delete(message.id);
      if (message.error !== undefined) p?.reject(new Error(message.error));
      else p?.resolve(message.result);
      return;
    }
    if (message.event === undefined) return;
    const waiter = waiting.get(message.event)?.shift();
    if (waiter) waiter(message.data);
    else events.set(message.event, [...(events.get(message.event) ?? []), message.data]);
  });
  void exited.then((code) => {
    for (const p of pending.values()) p.reject(new Error(`${file} exited (${code}):\n${err}`));
    pending.clear();
  });
  return {
    child,
    exited,
    stderr: () => err,
    request<T>(op: string, extra: Record<string, unknown> = {}) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, op, ...extra });
      });
    },
    event<T>(name: string) {
      const queued = events.get(name);
      if (queued?.length) return Promise.resolve(queued.shift() as T);
      return new Promise<T>((resolve, reject) => {
        waiting.set(name, [...(waiting.get(name) ?? []), resolve as (data: unknown) => void]);
        void exited.then((code) => reject(new Error(`${file} exited (${code}) before "${name}":\n${err}`)));
      });
    },
  };
}

/** In the child: answers the parent's requests with `handler`. */
export function serveParent(handler: (request: { op: string } & Record<string, unknown>) => unknown): void {
  process.on('message', async (message: { id: number; op: string } & Record<string, unknown>) => {
    try {
      const result = await handler(message);
      process.send?.({ id: message.id, result });
    } catch (error) {
      process.send?.({ id: message.id, error: (error as Error).stack ?? String(error) });
    }
  });
  // The parent went away (test failed or finished): nothing left to do.
  process.on('disconnect', () => process.exit(0));
}

/** In the child: tells the parent that something happened. */
export function tellParent(event: string, data?: unknown): void {
  process.send?.({ event, data });
}
