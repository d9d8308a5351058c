import pino, { type DestinationStream, type Logger } from 'pino';
import type { EnumSpec } from './optionSpec.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** `--log-level`, shared by every command that logs. */
export const logLevelSpec = {
  kind: 'enum',
  values: LOG_LEVELS,
  description: 'how much to log (JSON lines on standard error)',
  default: 'info',
} as const satisfies EnumSpec;

/**
 * Structured logs (pino, JSON lines) on standard error, so standard output stays for results.
 * `destination` replaces standard error (a progress bar's, which clears itself around each line).
 */
export function createLogger(level = 'info', name = 'engine-link', destination?: DestinationStream): Logger {
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new Error(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got "${level}")`);
  return pino({ name, level, base: undefined }, destination ?? pino.destination(2));
}
