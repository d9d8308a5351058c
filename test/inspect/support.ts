import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** A Stately inspection event as it arrives at a receiver (the fields the tests look at). */
export interface ReceivedInspectionEvent {
  type: '@xstate.actor' | '@xstate.event' | '@xstate.snapshot';
  sessionId: string;
  /** `@xstate.actor`: the machine's id. */
  name?: string;
  /** `@xstate.actor`: the machine definition as JSON. */
  definition?: string;
  /** `@xstate.event` and `@xstate.snapshot`: the event. */
  event?: { type: string };
  /** `@xstate.snapshot`: the state the actor is in. */
  snapshot?: { value?: unknown };
}

/**
 * A WebSocket server standing in for the Stately inspector's relay: it records every JSON frame it
 * receives, and resolves waits when what they wait for has arrived (no polling, no sleeping).
 */
export class InspectionReceiver {
  readonly events: ReceivedInspectionEvent[] = [];
  /** Connections that closed. */
  closed = 0;
  private readonly server: WebSocketServer;
  private readonly waiters = new Set<() => void>();

  private constructor(server: WebSocketServer) {
    this.server = server;
    server.on('connection', (socket) => {
      socket.on('message', (data) => {
        this.events.push(JSON.parse(data.toString()) as ReceivedInspectionEvent);
        for (const check of [...this.waiters]) check();
      });
      socket.on('close', () => {
        this.closed++;
        for (const check of [...this.waiters]) check();
      });
    });
  }

  static async start(): Promise<InspectionReceiver> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    return new InspectionReceiver(server);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The sessions of the actors of machine `name` that registered. */
  sessionsOf(name: string): string[] {
    return this.events.filter((e) => e.type === '@xstate.actor' && e.name === name).map((e) => e.sessionId);
  }

  /** The events of one actor session, of one kind. */
  of(sessionId: string, type: ReceivedInspectionEvent['type']): ReceivedInspectionEvent[] {
    return this.events.filter((e) => e.sessionId === sessionId && e.type === type);
  }

  /** Resolves when `predicate` holds over what has arrived (checked on each arrival). */
  until(what: string, predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate()) return;
        this.waiters.delete(check);
        clearTimeout(limit);
        resolve();
      };
      const limit = setTimeout(() => {
        this.waiters.delete(check);
        const names = [...new Set(this.events.filter((e) => e.type === '@xstate.actor').map((e) => e.name))];
        reject(
          new Error(
            `the receiver did not get ${what}; ${this.events.length} events from ${names.join(', ')}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
