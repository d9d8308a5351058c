import type { IncomingMessage } from 'node:http';
import type { HttpError } from './httpErrors.ts';

/** A request body the API will not read, and which of the catalogue's errors answers it. */
export class BadRequestError extends Error {
  override readonly name = 'BadRequestError';
  constructor(
    message: string,
    readonly kind: HttpError & ('badRequest' | 'bodyTooLarge' | 'unsupportedMediaType') = 'badRequest',
  ) {
    super(message);
  }
}

/** The largest request body the API reads (64 KiB); a larger one is answered 413. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * Whether the request says its body is JSON. Only `application/json` is read: the types a web page may
 * send to another site without asking first (text/plain, forms) are refused, so a page on another site
 * cannot slip a command past the browser's preflight.
 */
export function isJsonRequest(request: IncomingMessage): boolean {
  const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  return type === 'application/json';
}

/**
 * Reads a JSON request body of at most `limitBytes`; a body not declared `application/json` (415), bad
 * JSON (400) or a larger body (413) is a `BadRequestError`.
 */
export async function readJsonBody(request: IncomingMessage, limitBytes = MAX_BODY_BYTES): Promise<unknown> {
  if (!isJsonRequest(request))
    throw new BadRequestError(
      `the body must be JSON sent as Content-Type: application/json (got ${JSON.stringify(request.headers['content-type'] ?? 'none')})`,
      'unsupportedMediaType',
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limitBytes)
      throw new BadRequestError(`request body exceeds ${limitBytes} bytes`, 'bodyTooLarge');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BadRequestError(`request body is not JSON (${(error as Error).message})`);
  }
}
