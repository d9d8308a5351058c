import { Writable } from 'node:stream';
import pino from 'pino';

/** One line a pino logger wrote, parsed. */
export type LogLine = { level: number; msg: string } & Record<string, unknown>;

/** A debug-level pino logger whose lines are kept, parsed, in `lines`. */
export function capturedLogger() {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  );
  return { logger, lines };
}
