import type { Logger } from 'pino';
import {
  DEFAULT_INSPECT_URL,
  INSPECT_ENV,
  InspectTargetError,
  resolveInspectUrl,
} from '../inspect/inspectTarget.ts';
import { createMachineInspector, type MachineInspector } from '../inspect/machineInspector.ts';
import { type OptionSpecs, UsageError } from './args.ts';

/** `--inspect [ws://host:port]`, shared by every command that runs machines. */
export const inspectOptionSpec = {
  inspect: {
    kind: 'url',
    protocols: ['ws:', 'wss:'],
    implied: DEFAULT_INSPECT_URL,
    description: `send every state machine's inspection events to a Stately inspector receiver (see 'engine-link inspector'); or ${INSPECT_ENV}=1|URL`,
  },
} satisfies OptionSpecs;

/**
 * Where inspection events go, from `--inspect` or `ENGINE_LINK_INSPECT` (undefined: inspection is off).
 * A usage error for a bad value; nothing is opened.
 */
export function inspectUrl(flag: string | undefined): string | undefined {
  try {
    return resolveInspectUrl(flag);
  } catch (error) {
    if (error instanceof InspectTargetError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * Starts inspection towards `url` (see inspectUrl; nothing for undefined), logging when the receiver
 * connects and, once until it does, when it cannot be reached (it keeps retrying).
 */
export function startInspection(url: string | undefined, log: Logger): MachineInspector | undefined {
  if (url === undefined) return undefined;
  let warned = false;
  const inspector = createMachineInspector({
    url,
    onStatus: ({ connected, error }) => {
      if (connected) {
        warned = false;
        log.info({ url }, `inspector connected: machines are visible at ${url}`);
      } else if (!warned) {
        warned = true;
        log.warn(
          { url, err: error?.message },
          `inspector receiver not reachable at ${url}; retrying (start one with: engine-link inspector)`,
        );
      }
    },
  });
  log.info({ url }, 'sending state machine inspection events');
  return inspector;
}
