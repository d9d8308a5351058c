import pino, { type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Structured logs (pino, JSON lines) on standard error, so standard output stays for results. */
export function createLogger(level = 'info', name = 'engine-link'): Logger {
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new Error(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got "${level}")`);
  return pino({ name, level, base: undefined }, pino.destination(2));
}
