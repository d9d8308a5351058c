import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import { numberOption, type OptionSpecs, UsageError } from './args.ts';
import type { EngineOpcUa, EngineOpcUaOptions } from './opcuaHardware.ts';

/** `engine --opcua URL` and its companions. Nothing here loads node-opcua: `startOpcUa` does, on demand. */
export const opcuaOptionSpecs = {
  opcua: {
    type: 'string',
    description:
      "OPC UA server of the engine's hardware (opc.tcp://host:4840, such as an opcua-sim): its tags are read and written through hardware recovery, whose state is reported as hardware.opcua",
  },
  'opcua-user': {
    type: 'string',
    description:
      'sign in to the OPC UA server as this user (password: --opcua-password or ENGINE_LINK_OPCUA_PASSWORD)',
  },
  'opcua-password': { type: 'string', description: 'password for --opcua-user' },
  'opcua-security': {
    type: 'string',
    description: 'OPC UA channel security: None, Sign or SignAndEncrypt (Basic256Sha256, with a certificate)',
    default: 'None',
  },
  'opcua-pki': {
    type: 'string',
    description:
      "folder of the OPC UA client's certificate store (default: ~/.config/engine-link/opcua/client)",
  },
  'opcua-read-ms': { type: 'string', description: 'read the OPC UA tags this often (ms)', default: '1000' },
  'opcua-keepalive-ms': {
    type: 'string',
    description:
      'OPC UA session keep-alive when nothing else was heard (ms); a silent link is noticed within it + 5 s',
    default: '5000',
  },
  'opcua-reconnect-after-ms': {
    type: 'string',
    description: 'hardware faults masked this long (issue) before reconnecting (ms)',
    default: '10000',
  },
  'opcua-error-after-ms': {
    type: 'string',
    description:
      'reconnecting this long without success is an error: faults surface, pending writes are dropped (ms)',
    default: String(5 * 60 * 60 * 1000),
  },
} satisfies OptionSpecs;

type OpcUaFlags = { [K in keyof typeof opcuaOptionSpecs]: string | undefined };

/**
 * Starts the engine's OPC UA hardware when `--opcua` is given (undefined otherwise): loads the OPC UA
 * layer (and node-opcua) only then, and makes the first connect attempt, so that a configuration error
 * (an unknown node, refused credentials) stops the engine at once with a clear message.
 */
export async function startOpcUa(
  flags: OpcUaFlags,
  log: Logger,
  inspect: ((event: InspectionEvent) => void) | undefined,
): Promise<EngineOpcUa | undefined> {
  if (flags.opcua === undefined) return undefined;
  const options = engineOpcUaOptions(flags, inspect);
  const { startEngineOpcUa } = await loadOpcUaModule(() => import('./opcuaHardware.ts'));
  return startEngineOpcUa(options, log);
}

function engineOpcUaOptions(
  flags: OpcUaFlags,
  inspect: ((event: InspectionEvent) => void) | undefined,
): EngineOpcUaOptions {
  if (!/^opc\.tcp:\/\/[^/:\s]+(:\d+)?(\/\S*)?$/.test(flags.opcua!))
    throw new UsageError(
      `--opcua must be an OPC UA endpoint URL, opc.tcp://host:port (got "${flags.opcua}")`,
    );
  const security = flags['opcua-security'] ?? 'None';
  if (security !== 'None' && security !== 'Sign' && security !== 'SignAndEncrypt')
    throw new UsageError(`--opcua-security must be None, Sign or SignAndEncrypt (got "${security}")`);
  const password = flags['opcua-password'] ?? (process.env.ENGINE_LINK_OPCUA_PASSWORD || undefined);
  if (flags['opcua-user'] === undefined && flags['opcua-password'] !== undefined)
    throw new UsageError('--opcua-password needs --opcua-user');
  if (flags['opcua-user'] !== undefined && password === undefined)
    throw new UsageError('--opcua-user needs a password: --opcua-password or ENGINE_LINK_OPCUA_PASSWORD');
  return {
    endpointUrl: flags.opcua!,
    security: {
      mode: security,
      identity:
        flags['opcua-user'] === undefined
          ? { type: 'anonymous' }
          : { type: 'userName', userName: flags['opcua-user'], password: password! },
    },
    pkiDir: flags['opcua-pki'],
    readMs: numberOption(flags['opcua-read-ms'], 'opcua-read-ms', 1000, 10),
    keepAliveMs: numberOption(flags['opcua-keepalive-ms'], 'opcua-keepalive-ms', 5000, 100),
    reconnectAfterMs: numberOption(flags['opcua-reconnect-after-ms'], 'opcua-reconnect-after-ms', 10_000, 0),
    errorAfterMs: numberOption(flags['opcua-error-after-ms'], 'opcua-error-after-ms', 5 * 60 * 60 * 1000, 0),
    inspect,
  };
}

/**
 * Imports a module that needs node-opcua; when node-opcua is not installed (it is an optional peer
 * dependency), says how to install it.
 */
export async function loadOpcUaModule<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /node-opcua/.test(String(error)))
      throw new UsageError('OPC UA needs the optional package node-opcua: npm install node-opcua');
    throw error;
  }
}
