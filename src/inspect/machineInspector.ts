import { createInspector } from '@statelyai/inspect';
import type { InspectionEvent } from 'xstate';
import type { WebSocketInspectorAdapterOptions } from './inspectorOptions.ts';
import { WebSocketInspectorAdapter } from './webSocketInspectorAdapter.ts';

/** What the runtimes take as their `inspect` option: XState's inspection callback. */
export type InspectFunction = (event: InspectionEvent) => void;

/** What `createMachineInspector` gives: the `inspect` function for the runtimes, and how to stop it. */
export interface MachineInspector {
  /** The receiver's URL. */
  readonly url: string;
  /** Pass to every machine actor (`createActor(machine, { inspect })`, or a runtime's `inspect` option). */
  readonly inspect: InspectFunction;
  /** Whether the receiver is connected now. */
  readonly connected: boolean;
  /** Stops sending and closes the connection. */
  stop(): void;
}

/**
 * Sends the inspection events of every actor it is attached to to a WebSocket receiver, so a person can
 * watch the live machines in the Stately inspector: `@statelyai/inspect`'s `createInspector` (which turns
 * XState inspection events into Stately ones) over a WebSocket adapter that speaks the wire format of
 * its `createWebSocketInspector`. Events wait in a bounded buffer while the receiver is away.
 */
export function createMachineInspector(options: WebSocketInspectorAdapterOptions): MachineInspector {
  const adapter = new WebSocketInspectorAdapter(options);
  const inspector = createInspector(adapter, { autoStart: false });
  inspector.start();
  return {
    url: adapter.url,
    inspect: (event) => inspector.inspect.next?.(event),
    get connected() {
      return adapter.connected;
    },
    stop: () => inspector.stop(),
  };
}
