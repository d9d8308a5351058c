// Apart from the adapter, whose declarations use @statelyai/inspect's types (and those, the DOM's): a
// program that only passes these options never type-checks them.
/**
 * Where inspection events go (a relay such as `engine-link inspector`'s, `ws://127.0.0.1:8090`) and how
 * many wait while it is away.
 */
export interface WebSocketInspectorAdapterOptions {
  /** The receiver: `engine-link inspector`, `@statelyai/inspect/server`, or any WebSocket server. */
  url: string;
  /** Events kept while the receiver cannot be reached; the oldest go first. Default 1000. */
  maxBufferedEvents?: number;
  /** Waits between reconnect attempts: from `initial`, doubling up to `max`. Default 1 s to 10 s. */
  retryMs?: { initial: number; max: number };
  /** Told when the receiver connects or goes away (for a log line). */
  onStatus?: (status: { connected: boolean; url: string; error?: Error }) => void;
}
