import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import { HardwareConfigurationError } from '../hardware/errors.ts';
import { HARDWARE_RECOVERY_DEFAULTS } from '../hardware/hardwareRecoveryOptions.ts';
import { type OptionSpecs, StartupError, secretOptions, UsageError } from './args.ts';
import type { EngineOpcUa, EngineOpcUaOptions } from './opcuaHardware.ts';

const { 'opcua-password': password, 'opcua-password-file': passwordFile } = secretOptions(
  'opcua-password',
  'password for --opcua-user',
  'ENGINE_LINK_OPCUA_PASSWORD',
);

/**
 * `engine --opcua URL` and its companions, which mean nothing without it. Nothing here loads node-opcua:
 * `startOpcUa` does, on demand.
 */
export const opcuaOptionSpecs = {
  opcua: {
    kind: 'url',
    protocols: ['opc.tcp:'],
    description:
      "OPC UA server of the engine's hardware (opc.tcp://host:4840, such as an opcua-sim): its tags are read and written through hardware recovery, whose state is reported as hardware.opcua",
  },
  'opcua-user': {
    kind: 'text',
    requires: 'opcua',
    description:
      'sign in to the OPC UA server as this user (with --opcua-password-file or ENGINE_LINK_OPCUA_PASSWORD)',
  },
  'opcua-password': { ...password, requires: 'opcua-user' },
  'opcua-password-file': { ...passwordFile, requires: 'opcua-user' },
  'opcua-security': {
    kind: 'enum',
    values: ['None', 'Sign', 'SignAndEncrypt'],
    requires: 'opcua',
    description: 'OPC UA channel security (Sign and SignAndEncrypt: Basic256Sha256, with a certificate)',
    default: 'None',
  },
  'opcua-pki': {
    kind: 'path',
    role: 'directory',
    requires: 'opcua',
    description:
      "folder of the OPC UA client's certificate store (default: ~/.config/engine-link/opcua/client)",
  },
  'opcua-read-ms': {
    kind: 'duration',
    unit: 'ms',
    min: 10,
    requires: 'opcua',
    description: 'read the OPC UA tags this often',
    default: 1000,
  },
  'opcua-keepalive-ms': {
    kind: 'duration',
    unit: 'ms',
    min: 100,
    requires: 'opcua',
    description:
      'OPC UA session keep-alive when nothing else was heard; a silent link is noticed within it + 5 s',
    default: 5000,
  },
  'opcua-reconnect-after-ms': {
    kind: 'duration',
    unit: 'ms',
    min: 0,
    requires: 'opcua',
    description: 'hardware faults masked this long (issue) before reconnecting',
    default: HARDWARE_RECOVERY_DEFAULTS.reconnectAfterMs,
  },
  'opcua-error-after-ms': {
    kind: 'duration',
    unit: 'ms',
    min: 0,
    requires: 'opcua',
    description:
      'reconnecting this long without success is an error: faults surface, pending writes are dropped',
    default: HARDWARE_RECOVERY_DEFAULTS.errorAfterMs,
  },
} satisfies OptionSpecs;

interface OpcUaFlags {
  opcua: string | undefined;
  'opcua-user': string | undefined;
  'opcua-password': string | undefined;
  'opcua-security': string;
  'opcua-pki': string | undefined;
  'opcua-read-ms': number;
  'opcua-keepalive-ms': number;
  'opcua-reconnect-after-ms': number;
  'opcua-error-after-ms': number;
}

/**
 * What `engine --opcua` will connect with (undefined without `--opcua`), checked before anything is
 * opened: a user needs a password.
 */
export function opcUaSettings(flags: OpcUaFlags): Omit<EngineOpcUaOptions, 'inspect'> | undefined {
  if (flags.opcua === undefined) return undefined;
  const user = flags['opcua-user'];
  const secret = flags['opcua-password'];
  if (user !== undefined && secret === undefined)
    throw new UsageError(
      '--opcua-user needs a password: --opcua-password-file or ENGINE_LINK_OPCUA_PASSWORD',
    );
  return {
    endpointUrl: flags.opcua,
    security: {
      mode: flags['opcua-security'] as 'None' | 'Sign' | 'SignAndEncrypt',
      identity:
        user === undefined ? { type: 'anonymous' } : { type: 'userName', userName: user, password: secret! },
    },
    pkiDir: flags['opcua-pki'],
    readMs: flags['opcua-read-ms'],
    keepAliveMs: flags['opcua-keepalive-ms'],
    reconnectAfterMs: flags['opcua-reconnect-after-ms'],
    errorAfterMs: flags['opcua-error-after-ms'],
  };
}

/**
 * Starts the engine's OPC UA hardware (nothing without settings): loads the OPC UA layer (and
 * node-opcua) only then, and makes the first connect attempt, so that a configuration error (an unknown
 * node, refused credentials) stops the engine at once, in one line.
 */
export async function startOpcUa(
  settings: Omit<EngineOpcUaOptions, 'inspect'> | undefined,
  log: Logger,
  inspect: ((event: InspectionEvent) => void) | undefined,
): Promise<EngineOpcUa | undefined> {
  if (settings === undefined) return undefined;
  const { startEngineOpcUa } = await loadOpcUaModule(() => import('./opcuaHardware.ts'));
  try {
    return await startEngineOpcUa({ ...settings, inspect }, log);
  } catch (error) {
    if (error instanceof HardwareConfigurationError) throw new StartupError(error.message);
    throw error;
  }
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
      throw new StartupError('OPC UA needs the optional package node-opcua: npm install node-opcua');
    throw error;
  }
}
