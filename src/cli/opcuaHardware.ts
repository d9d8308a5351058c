import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import type { CommandHandler, EngineCommand } from '../engine/commands.ts';
import { CommandError } from '../engine/commands.ts';
import type { EngineDispatcher } from '../engine/dispatcher.ts';
import { HardwareConfigurationError, HardwareUnavailableError } from '../hardware/errors.ts';
import { HardwareRecovery } from '../hardware/hardwareRecovery.ts';
import {
  OpcUaHardwareLayer,
  type OpcUaRegister,
  type OpcUaSecurityOptions,
  routeOpcUaLogs,
  SIM_TAGS,
  simNodeId,
} from '../hardware/opcua/index.ts';
import { reconnectDelay } from '../hardware/reconnectBackoff.ts';
import { canRead, canWrite } from '../hardware/register.ts';
import { reportHardwareState } from '../hardware/reportHardwareState.ts';

export interface EngineOpcUaOptions {
  endpointUrl: string;
  security: OpcUaSecurityOptions;
  pkiDir: string | undefined;
  readMs: number;
  keepAliveMs: number;
  reconnectAfterMs: number;
  errorAfterMs: number;
  inspect: ((event: InspectionEvent) => void) | undefined;
}

/** The OPC UA hardware of `engine --opcua`, started; `attach` it to the dispatcher once there is one. */
export interface EngineOpcUa {
  readonly recovery: HardwareRecovery;
  /** Reports the hardware state (`hardware.opcua`) and samples the readable tags through `dispatcher`. */
  attach(dispatcher: EngineDispatcher): void;
  /** The engine's command handler, plus `write {register, value}` for the OPC UA registers. */
  withCommands(handler: CommandHandler): CommandHandler;
  stop(): Promise<void>;
}

/** The opcua-sim's tags, as the simulated engine's registers. */
const REGISTERS: ReadonlyArray<OpcUaRegister & { unit: string }> = [
  { name: 'jacketTemperature', direction: 'read', ...tag(SIM_TAGS.jacketTemperature) },
  { name: 'pumpSpeed', direction: 'readWrite', ...tag(SIM_TAGS.pumpSpeed) },
  { name: 'setpoint', direction: 'readWrite', ...tag(SIM_TAGS.setpoint) },
];

function tag(simTag: (typeof SIM_TAGS)[keyof typeof SIM_TAGS]) {
  return { nodeId: simNodeId(simTag), unit: simTag.unit };
}

/**
 * Connects to the OPC UA server through `HardwareRecovery`. A configuration error on the first attempt
 * (an unknown node, refused credentials) rejects: the engine stops. A fault (the server not up yet) is
 * logged, and connecting goes on in the background on the recovery's reconnect schedule.
 */
export async function startEngineOpcUa(options: EngineOpcUaOptions, log: Logger): Promise<EngineOpcUa> {
  routeOpcUaLogs((level, message) =>
    log[level === 'error' ? 'error' : 'debug']({ source: 'node-opcua' }, message),
  );
  const layer = new OpcUaHardwareLayer({
    endpointUrl: options.endpointUrl,
    registers: REGISTERS,
    security: options.security,
    pkiDir: options.pkiDir,
    keepAliveMs: options.keepAliveMs,
  });
  const recovery = new HardwareRecovery(layer, {
    name: 'opcua',
    reconnectAfterMs: options.reconnectAfterMs,
    errorAfterMs: options.errorAfterMs,
    inspect: options.inspect,
  });
  logEvents(layer, recovery, log);
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const connect = async (attempt: number): Promise<void> => {
    try {
      await recovery.connect();
      log.info({ url: options.endpointUrl, security: layer.securitySummary }, 'OPC UA hardware connected');
    } catch (error) {
      if (stopped) return;
      const refused = error instanceof HardwareConfigurationError;
      // At start a configuration error stops the engine; later (the server came up refusing us) it is
      // said at error level and retried, in case the server is put right.
      if (refused && attempt === 0) throw error;
      const delayMs = reconnectDelay(attempt);
      (refused ? log.error : attempt === 0 ? log.warn : log.debug).call(
        log,
        { err: (error as Error).message, retryInMs: delayMs },
        refused ? 'OPC UA server refuses the engine; retrying' : 'OPC UA hardware not reachable; retrying',
      );
      retry = setTimeout(() => void connect(attempt + 1), delayMs);
    }
  };
  await connect(0);

  let reader: NodeJS.Timeout | undefined;
  let stopReporting = () => {};
  return {
    recovery,
    attach(dispatcher) {
      stopReporting = reportHardwareState(recovery, dispatcher);
      const reported = new Set<string>();
      reader = setInterval(() => sample(recovery, dispatcher, log, reported), options.readMs);
    },
    withCommands: (handler) => (command) =>
      command.name === 'write' ? writeCommand(recovery, command) : handler(command),
    async stop() {
      stopped = true;
      clearTimeout(retry);
      clearInterval(reader);
      await recovery.disconnect();
      stopReporting();
    },
  };
}

const readable = REGISTERS.filter(canRead);

/**
 * Reads the readable tags; sends them as samples `opcua.<register>` when they came from the hardware.
 * Errors that are not masked are logged once per distinct message (`reported`).
 */
async function sample(
  recovery: HardwareRecovery,
  dispatcher: EngineDispatcher,
  log: Logger,
  reported: Set<string>,
): Promise<void> {
  if (!recovery.usable) return;
  try {
    const values = await recovery.readBatch(readable);
    // In issue and reconnect the values are last-known-good ones, not new samples.
    if (recovery.state !== 'ok') return;
    const t = Date.now();
    readable.forEach((register, i) => {
      const value = values[i];
      if (typeof value === 'number')
        dispatcher.send({ kind: 'sample', tag: `opcua.${register.name}`, value, unit: register.unit, t });
    });
  } catch (error) {
    const message = (error as Error).message;
    if (reported.has(message)) return;
    reported.add(message);
    log.error({ err: message }, 'reading the OPC UA hardware failed');
  }
}

/** `write {register, value}`: through the recovery (kept as pending while the link recovers). */
async function writeCommand(recovery: HardwareRecovery, command: EngineCommand) {
  const { register: name, value } = (command.args ?? {}) as { register?: unknown; value?: unknown };
  const register = REGISTERS.find((r) => r.name === name);
  if (!register)
    throw new CommandError(
      'unknown-register',
      `write needs {register, value} with register one of ${REGISTERS.filter(canWrite)
        .map((r) => r.name)
        .join(', ')} (got ${JSON.stringify(name)})`,
    );
  if (!canWrite(register)) throw new CommandError('not-writable', `register '${register.name}' is read-only`);
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new CommandError('bad-value', `write: value must be a number (got ${JSON.stringify(value)})`);
  try {
    await recovery.write(value, register);
  } catch (error) {
    if (error instanceof HardwareUnavailableError)
      throw new CommandError('hardware-unavailable', error.message);
    if (error instanceof HardwareConfigurationError)
      throw new CommandError('hardware-configuration', error.message);
    if (error instanceof TypeError) throw new CommandError('bad-value', error.message);
    throw error;
  }
  return {
    register: register.name,
    value,
    state: recovery.state,
    pending: recovery.pendingWrites.has(register.name),
  };
}

function logEvents(layer: OpcUaHardwareLayer, recovery: HardwareRecovery, log: Logger): void {
  layer.on('linkLost', (reason) => log.warn({ err: reason.message }, 'OPC UA link lost'));
  layer.on('connected', ({ badRegisters }) => {
    for (const error of badRegisters) log.error({ registers: error.registers }, error.message);
  });
  recovery.on('state', ({ from, to }) => log.info({ from, to }, `OPC UA hardware ${to}`));
  recovery.on('fault', (fault) =>
    log.debug({ ...fault, error: (fault.error as Error).message }, 'OPC UA hardware fault'),
  );
  recovery.on('reconnectResult', (result) => {
    if (result.ok) return;
    // A configuration error (credentials now refused, ...) is said at error level: retrying will not fix it.
    const err = (result.error as Error).message;
    if (result.error instanceof HardwareConfigurationError)
      log.error({ attempt: result.attempt, err }, 'OPC UA reconnect refused');
    else log.debug({ attempt: result.attempt, err }, 'OPC UA reconnect failed');
  });
  recovery.on('pendingWritesFlushed', (registers) =>
    log.info({ registers }, 'pending OPC UA writes written'),
  );
  recovery.on('pendingWritesDropped', ({ registers, reason, error }) =>
    log.warn(
      { registers, reason, err: (error as Error | undefined)?.message },
      'pending OPC UA writes dropped',
    ),
  );
}
