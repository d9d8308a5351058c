// A server-sent event stream that comes back by itself.
//
// EventSource retries after a dropped connection, but gives up for good when a reconnect is answered
// with an error status (the aggregator restarting behind a proxy, say). This wrapper opens a new
// EventSource whenever the current one is closed, with backoff, and reports its status.

const RETRY_MS = [500, 1000, 2000, 5000];

/**
 * Listens to `url` for the named events: `handlers` maps an event name to a function of its JSON data.
 * `onStatus('live' | 'reconnecting')` is called on every change. Returns a function that stops it.
 */
export function liveStream(url, handlers, onStatus) {
  let source;
  let attempt = 0;
  let retryTimer;
  let stopped = false;
  let status;

  const report = (next) => {
    if (next === status) return;
    status = next;
    onStatus(next);
  };

  const open = () => {
    if (stopped) return;
    source = new EventSource(url);
    source.addEventListener('open', () => {
      attempt = 0;
      report('live');
    });
    source.addEventListener('error', () => {
      report('reconnecting');
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        const delay = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)];
        attempt++;
        retryTimer = setTimeout(open, delay);
      }
    });
    for (const [name, handle] of Object.entries(handlers))
      source.addEventListener(name, (event) => handle(JSON.parse(event.data)));
  };

  open();
  return () => {
    stopped = true;
    clearTimeout(retryTimer);
    source?.close();
  };
}
