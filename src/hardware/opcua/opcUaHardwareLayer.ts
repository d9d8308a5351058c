import { EventEmitter } from 'eventemitter3';
import { AttributeIds, type DataValue, type StatusCode } from 'node-opcua';
import { HardwareConfigurationError, type HardwareError, requireDirection } from '../errors.ts';
import type { HardwareLayer } from '../hardwareLayer.ts';
import type { HardwareRegister, HardwareValue } from '../register.ts';
import { OpcUaConnection, type OpcUaLinkState } from './opcUaConnection.ts';
import {
  type BoundRegister,
  bindRegisters,
  checkNodeIdSyntax,
  type OpcUaRegister,
  type RegisterBindings,
} from './opcUaRegisters.ts';
import { defaultPkiDir } from './pkiDir.ts';
import { type OpcUaSecurityOptions, resolveSecurity } from './security.ts';
import { classifyStatusCode, OpcUaHardwareError, statusError, toLayerError } from './statusCodes.ts';
import { fromVariant, toVariant } from './values.ts';

/** Options of the `OpcUaHardwareLayer`: the endpoint, the registers, security and timeouts. */
export interface OpcUaHardwareLayerOptions {
  /** The server, such as `opc.tcp://plc.lab:4840`. */
  endpointUrl: string;
  /** The registers, each a variable node of the server (node ids are checked when connecting). */
  registers: readonly OpcUaRegister[];
  /** Channel security and sign-in. Default: no security, anonymous. */
  security?: OpcUaSecurityOptions;
  /**
   * The client's certificate store: its application certificate (created there, self-signed, when
   * missing: needed for Sign and SignAndEncrypt) and the server certificates it trusts. Default:
   * `~/.config/engine-link/opcua/client` (`$XDG_CONFIG_HOME` first).
   */
  pkiDir?: string;
  /** Trust a server certificate seen for the first time (node-opcua's default). Default true. */
  trustUnknownServerCertificates?: boolean;
  /** Names the client to the server. Default 'engine-link'. */
  applicationName?: string;
  /** The session keep-alive reads the server state this often when nothing else was heard, ms. Default 5000. */
  keepAliveMs?: number;
  /** A request unanswered this long fails (node-opcua allows no less than 5000), ms. Default 10 000. */
  requestTimeoutMs?: number;
  /** Connecting and signing in gives up after this long, ms. Default 10 000. */
  connectTimeoutMs?: number;
  /** The session the server keeps for us while we are silent, ms. Default 60 000. */
  sessionTimeoutMs?: number;
  /** Each step of closing a session gives up after this long (a dead link never answers), ms. Default 2000. */
  closeTimeoutMs?: number;
}

/** The events of the `OpcUaHardwareLayer`. */
export interface OpcUaHardwareLayerEvents {
  /** The link broke (server gone, socket reset, keep-alive unanswered); reads and writes fail until reconnected. */
  linkLost: [reason: Error];
  /** Connected; `badRegisters` are registers the server refused (after a reconnect they fail when used). */
  connected: [info: { badRegisters: readonly HardwareConfigurationError[] }];
}

const DEFAULTS = {
  applicationName: 'engine-link',
  trustUnknownServerCertificates: true,
  keepAliveMs: 5000,
  requestTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  sessionTimeoutMs: 60_000,
  closeTimeoutMs: 2000,
} as const;

/**
 * A `HardwareLayer` on an OPC UA server (node-opcua): registers are variable nodes; `readBatch` and
 * `writeBatch` are one Read and one Write service call each. Wrap it in `HardwareRecovery` like any
 * other layer.
 *
 * - `connect()` opens a session and checks every register (node exists, access level allows the
 *   register's direction, value type maps to a `HardwareValue`). The first connect rejects with a
 *   `HardwareConfigurationError` naming every bad register. A reconnect does not: registers the server
 *   no longer has fail with `HardwareConfigurationError` when used, and the others work.
 * - `connect()` and `disconnect()` are idempotent and may be called in any state, concurrently too.
 * - Faults of the link, the session, the server or the device reject with `OpcUaHardwareError` (a
 *   `HardwareError`: masked and recovered by `HardwareRecovery`); status codes saying the setup is wrong
 *   (unknown node, not writable, type mismatch, access denied, credentials refused) reject with
 *   `HardwareConfigurationError`, never masked. See `classifyStatusCode`.
 * - A broken link is noticed at once when the server goes (socket closed) and within the session's
 *   keep-alive (`keepAliveMs` + `requestTimeoutMs`) when the link goes silent; from then on reads and
 *   writes fail at once, without waiting on the network, until the next `connect()`.
 */
export class OpcUaHardwareLayer extends EventEmitter<OpcUaHardwareLayerEvents> implements HardwareLayer {
  readonly registers: ReadonlyMap<string, OpcUaRegister>;
  readonly endpointUrl: string;
  /** For messages: security mode, policy and identity. */
  readonly securitySummary: string;
  private readonly connection: OpcUaConnection;
  private bindings: RegisterBindings = new Map();
  private hasConnected = false;
  private connecting: Promise<void> | undefined;

  constructor(options: OpcUaHardwareLayerOptions) {
    super();
    const registers = new Map<string, OpcUaRegister>();
    for (const register of options.registers) {
      if (registers.has(register.name)) throw new TypeError(`duplicate register '${register.name}'`);
      checkNodeIdSyntax(register);
      registers.set(register.name, register);
    }
    this.registers = registers;
    this.endpointUrl = options.endpointUrl;
    if (!/^opc\.tcp:\/\/[^/:]+(:\d+)?(\/.*)?$/.test(options.endpointUrl))
      throw new HardwareConfigurationError(
        `'${options.endpointUrl}' is not an OPC UA endpoint URL (opc.tcp://host:port)`,
        [],
        'BadTcpEndpointUrlInvalid',
      );
    for (const key of Object.keys(DEFAULTS) as Array<keyof typeof DEFAULTS>) {
      const value = options[key];
      if (typeof DEFAULTS[key] === 'number' && value !== undefined && !(Number(value) > 0))
        throw new RangeError(
          `OpcUaHardwareLayer: ${key} must be a positive number of milliseconds (got ${value})`,
        );
    }
    const security = resolveSecurity(options.security);
    this.securitySummary = security.summary;
    this.connection = new OpcUaConnection({
      ...DEFAULTS,
      ...definedOnly(options),
      endpointUrl: options.endpointUrl,
      security,
      pkiDir: options.pkiDir ?? defaultPkiDir('client'),
    });
    this.connection.on('lost', (reason) => this.emit('linkLost', reason));
  }

  /** True while a session is open, its registers checked, and not known to be broken. */
  get isConnected(): boolean {
    return this.connection.state === 'open' && !this.connecting;
  }

  /** The state of the OPC UA session. */
  get linkState(): OpcUaLinkState {
    return this.connection.state;
  }

  /**
   * Connects and checks every register against the server (a configuration error rejects with
   * `HardwareConfigurationError`).
   */
  connect(): Promise<void> {
    if (this.connecting) return this.connecting;
    if (this.isConnected) return Promise.resolve();
    this.connecting = this.connectNow().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** Closes the session. */
  async disconnect(): Promise<void> {
    await this.connection.close();
  }

  /** Reads one register's node. */
  async read(register: HardwareRegister): Promise<HardwareValue> {
    const [value] = await this.readBatch([register]);
    return value!;
  }

  async readBatch(registers: readonly HardwareRegister[]): Promise<HardwareValue[]> {
    const bound = registers.map((register) => this.bound(register, 'read'));
    if (bound.length === 0) return [];
    const names = registers.map((r) => r.name);
    const session = this.connection.session(`cannot read ${quote(names)}`);
    let values: DataValue[];
    try {
      values = await session.read(bound.map((b) => ({ nodeId: b.nodeId, attributeId: AttributeIds.Value })));
    } catch (error) {
      throw toLayerError(error, `OPC UA: reading ${quote(names)} failed`, names);
    }
    this.throwWorst(
      values.map((v) => v.statusCode),
      'reading',
      names,
    );
    return values.map((dataValue, i) => {
      const value = fromVariant(dataValue.value);
      if (value === undefined)
        throw new HardwareConfigurationError(
          `register '${names[i]}' read a value that is not a number, string or boolean (${dataValue.value.toString()})`,
          [names[i]!],
          'BadTypeMismatch',
        );
      return value;
    });
  }

  /** Writes one register's node. */
  async write(value: HardwareValue, register: HardwareRegister): Promise<void> {
    await this.writeBatch([value], [register]);
  }

  async writeBatch(values: readonly HardwareValue[], registers: readonly HardwareRegister[]): Promise<void> {
    if (values.length !== registers.length)
      throw new RangeError(`writeBatch: ${values.length} values for ${registers.length} registers`);
    const bound = registers.map((register) => this.bound(register, 'write'));
    if (bound.length === 0) return;
    const nodesToWrite = bound.map((b, i) => ({
      nodeId: b.nodeId,
      attributeId: AttributeIds.Value,
      value: { value: toVariant(values[i]!, b.dataType, b.register.name) },
    }));
    const names = registers.map((r) => r.name);
    const session = this.connection.session(`cannot write ${quote(names)}`);
    let results: StatusCode[];
    try {
      results = await session.write(nodesToWrite);
    } catch (error) {
      throw toLayerError(error, `OPC UA: writing ${quote(names)} failed`, names);
    }
    this.throwWorst(results, 'writing', names);
  }

  private async connectNow(): Promise<void> {
    const session = await this.connection.open();
    let bindings: RegisterBindings;
    try {
      bindings = await bindRegisters(session, [...this.registers.values()]);
    } catch (error) {
      await this.connection.close();
      throw error;
    }
    const bad = [...bindings.values()].filter((b) => b instanceof HardwareConfigurationError);
    if (bad.length > 0 && !this.hasConnected) {
      await this.connection.close();
      throw combine(bad, this.endpointUrl);
    }
    if (this.connection.state !== 'open')
      throw new OpcUaHardwareError(
        'OPC UA: connect abandoned: the link closed while connecting',
        'BadShutdown',
      );
    this.bindings = bindings;
    this.hasConnected = true;
    this.emit('connected', { badRegisters: bad });
  }

  /** The register as bound at connect; its configuration error if the server refused it. */
  private bound(register: HardwareRegister, operation: 'read' | 'write'): BoundRegister {
    const own = this.registers.get(register.name);
    if (!own) throw new TypeError(`unknown register '${register.name}'`);
    requireDirection(own, operation);
    const binding = this.bindings.get(register.name);
    if (binding instanceof HardwareConfigurationError) throw binding;
    if (binding) return binding;
    // Never connected: the session check below reports it.
    this.connection.session(`cannot ${operation} '${register.name}'`);
    throw new OpcUaHardwareError(`OPC UA: register '${register.name}' is not bound`, 'BadServerNotConnected');
  }

  /** Throws for the worst Bad status among one operation's results: configuration errors first. */
  private throwWorst(codes: readonly StatusCode[], what: string, names: readonly string[]): void {
    let fault: HardwareError | undefined;
    for (const [i, code] of codes.entries()) {
      const kind = classifyStatusCode(code);
      if (kind === 'good') continue;
      const error = statusError(code, `OPC UA: ${what} '${names[i]}' failed`, [names[i]!]);
      if (error instanceof HardwareConfigurationError) throw error;
      fault ??= error;
    }
    if (fault) throw fault;
  }
}

function combine(
  errors: readonly HardwareConfigurationError[],
  endpointUrl: string,
): HardwareConfigurationError {
  if (errors.length === 1) return errors[0]!;
  return new HardwareConfigurationError(
    `${endpointUrl} refuses ${errors.length} registers:\n${errors.map((e) => `  - ${e.message}`).join('\n')}`,
    errors.flatMap((e) => e.registers),
    errors[0]!.code,
  );
}

function quote(names: readonly string[]): string {
  return names.map((name) => `'${name}'`).join(', ');
}

function definedOnly(options: OpcUaHardwareLayerOptions) {
  const out: Partial<Record<keyof typeof DEFAULTS, string | number | boolean>> = {};
  for (const key of Object.keys(DEFAULTS) as Array<keyof typeof DEFAULTS>)
    if (options[key] !== undefined) out[key] = options[key];
  return out as Partial<typeof DEFAULTS>;
}
