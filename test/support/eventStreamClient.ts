import { type ClientRequest, request } from 'node:http';

/** One server-sent-events stream held open by a test: counts the events of each type it has received. */
export interface HeldStream {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Events received so far, by type. */
  counts: Map<string, number>;
  /** The `data` of each event of one type, in order (kept only for types in `keep`). */
  data: Map<string, string[]>;
  /** Resolves when `test` holds (checked on every event), or rejects when the stream ends first. */
  until(what: string, test: (stream: HeldStream) => boolean): Promise<void>;
  close(): void;
}

/**
 * Opens `url` as an event stream (optionally from a given local address, to be another client) and
 * resolves once the status line is in: 200 streams on; anything else (429, 503) is read whole.
 */
export function openEventStream(
  url: string,
  options: { localAddress?: string; keep?: readonly string[] } = {},
): Promise<HeldStream> {
  return new Promise((resolve, reject) => {
    const checks = new Set<() => void>();
    let ended = false;
    let req: ClientRequest | undefined;
    req = request(
      url,
      { agent: false, headers: { accept: 'text/event-stream' }, localAddress: options.localAddress },
      (response) => {
        const stream: HeldStream = {
          status: response.statusCode ?? 0,
          headers: response.headers,
          counts: new Map(),
          data: new Map(),
          until: (what, test) =>
            new Promise((done, fail) => {
              const check = () => {
                if (test(stream)) {
                  checks.delete(check);
                  done();
                } else if (ended) {
                  checks.delete(check);
                  fail(new Error(`the stream ended before ${what}`));
                }
              };
              checks.add(check);
              check();
            }),
          close: () => req?.destroy(),
        };
        let buffer = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          buffer += chunk;
          let end = buffer.indexOf('\n\n');
          while (end >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const type = /^event: (.*)$/m.exec(block)?.[1];
            if (type !== undefined) {
              stream.counts.set(type, (stream.counts.get(type) ?? 0) + 1);
              if (options.keep?.includes(type)) {
                const list = stream.data.get(type) ?? [];
                list.push(/^data: (.*)$/m.exec(block)?.[1] ?? '');
                stream.data.set(type, list);
              }
            }
            end = buffer.indexOf('\n\n');
          }
          for (const check of [...checks]) check();
        });
        const finish = () => {
          ended = true;
          for (const check of [...checks]) check();
        };
        response.on('end', finish);
        response.on('close', finish);
        resolve(stream);
      },
    );
    req.on('error', (error) => {
      ended = true;
      for (const check of [...checks]) check();
      reject(error);
    });
    req.end();
  });
}
