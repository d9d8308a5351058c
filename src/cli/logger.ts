import pino, { type DestinationStream, type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Structured logs (pino, JSON lines) on standard error, so standard output stays for results.
 * `destination` replaces standard error (a progress bar's, which clears itself around each line).
 */
export function createLogger(level = 'info', name = 'engine-link', destination?: DestinationStream): Logger {
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new Error(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got "${level}")`);
  return pino({ name, level, base: undefined }, destination ?? pino.destination(2));
}
