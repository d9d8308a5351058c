import type { ServerResponse } from 'node:http';

/**
 * Every error the aggregator's HTTP API answers, with its status and the `error` code of its JSON body
 * (README: HTTP API, Commands, Security, Limits). Routes name the situation; the status and the code are
 * written here once. (An engine link refused at its WebSocket upgrade is answered in plain text, with the
 * status the aggregator's `authorize` decides: see server.ts.)
 */
export const HTTP_ERRORS = {
  /** A malformed request: bad JSON, a field out of bounds, a bad percent-encoding. */
  badRequest: { status: 400, error: 'bad-request' },
  /** The API token is required and was not presented (or was wrong). */
  unauthorized: { status: 401, error: 'unauthorized' },
  /** A cross-origin request, or a Host that is not one of the aggregator's names. */
  forbidden: { status: 403, error: 'forbidden' },
  notFound: { status: 404, error: 'not-found' },
  unknownEngine: { status: 404, error: 'unknown-engine' },
  unknownRun: { status: 404, error: 'unknown-run' },
  /** The path exists, not with this method (the answer carries `Allow`). */
  methodNotAllowed: { status: 405, error: 'method-not-allowed' },
  /** The command gate: only an available engine takes commands. */
  engineUnavailable: { status: 409, error: 'engine-unavailable' },
  engineCatchingUp: { status: 409, error: 'engine-catching-up' },
  /** A request body over 64 KiB. */
  bodyTooLarge: { status: 413, error: 'bad-request' },
  /** A body not sent as `Content-Type: application/json`. */
  unsupportedMediaType: { status: 415, error: 'unsupported-media-type' },
  /** The engine refused or failed the command. */
  commandFailed: { status: 422, error: 'command-failed' },
  /** This client holds its share of live-update streams (with `Retry-After`). */
  tooManyStreamsFromClient: { status: 429, error: 'too-many-streams' },
  internal: { status: 500, error: 'internal-error' },
  /** The engine's link died before its answer: retry with the same id. */
  outcomeUnknown: { status: 502, error: 'outcome-unknown' },
  /** /healthz: the store (PostgreSQL) cannot be reached; engines' frames wait in their outboxes. */
  storeUnavailable: { status: 503, error: 'store-unavailable' },
  /** Every live-update stream is taken (with `Retry-After`). */
  tooManyStreams: { status: 503, error: 'too-many-streams' },
  /** No answer from the engine within the command timeout. */
  commandTimeout: { status: 504, error: 'command-timeout' },
} as const satisfies Record<string, { status: number; error: string }>;

export type HttpError = keyof typeof HTTP_ERRORS;

/** Answers `body` as JSON with `status` (never cached). */
export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(text);
}

/** Answers one of the catalogue's errors: its status, and `{error, ...fields}` as JSON. */
export function sendError(
  response: ServerResponse,
  kind: HttpError,
  fields: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): void {
  const { status, error } = HTTP_ERRORS[kind];
  sendJson(response, status, { error, ...fields }, headers);
}
