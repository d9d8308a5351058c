import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export class HttpJsonError extends Error {
  override readonly name = 'HttpJsonError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface GetJsonOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** PEM certificate(s) to trust for https://. */
  ca?: Buffer;
  timeoutMs?: number;
}

/** GETs `url` and parses its JSON answer; a non-2xx status or an unreachable server is an HttpJsonError. */
export function getJson<T>(url: URL, options: GetJsonOptions = {}): Promise<T> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<T>((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        headers: {
          accept: 'application/json',
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
        ...(options.ca ? { ca: options.ca } : {}),
        timeout: options.timeoutMs ?? 10_000,
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            reject(
              new HttpJsonError(`${url.href} answered ${status} with something that is not JSON`, status),
            );
            return;
          }
          if (status < 200 || status >= 300) {
            const message =
              (body as { message?: string; error?: string }).message ?? (body as { error?: string }).error;
            reject(
              new HttpJsonError(`${url.href} answered ${status}${message ? `: ${message}` : ''}`, status),
            );
            return;
          }
          resolve(body as T);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? 10_000} ms`)));
    req.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        new HttpJsonError(
          `cannot reach the aggregator at ${url.origin}: ${error.code === 'ECONNREFUSED' ? 'connection refused' : error.message}`,
        ),
      ),
    );
    req.end();
  });
}
