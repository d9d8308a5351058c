import { stripVTControlCharacters } from 'node:util';
import { setErrorLogger, setWarningLogger } from 'node-opcua';

/** Where node-opcua's warnings and errors go: one line of text each, with node-opcua's context. */
export type OpcUaLogSink = (level: 'warn' | 'error', message: string) => void;

/**
 * Sends node-opcua's warnings and errors to `sink` instead of standard output (where node-opcua writes
 * them by default, in the way of programs whose standard output is for results). Process-wide.
 */
export function routeOpcUaLogs(sink: OpcUaLogSink): void {
  const line = (args: unknown[]) =>
    stripVTControlCharacters(
      args
        .map((arg) => (typeof arg === 'string' ? arg : arg instanceof Error ? arg.message : String(arg)))
        .join(' '),
    ).trim();
  setWarningLogger((_context: unknown, ...args: unknown[]) => sink('warn', line(args)));
  setErrorLogger((_context: unknown, ...args: unknown[]) => sink('error', line(args)));
}
