import { EventEmitter } from 'eventemitter3';
import {
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  Variant,
  WriteRequest,
} from 'node-opcua';
import { defaultPkiDir } from './pkiDir.ts';

/** A tag of the simulated server: a Double variable under the `Reactor` object. */
export interface SimTag {
  /** The variable's browse name and the string part of its node id (see `simNodeId`). */
  readonly name: string;
  readonly writable: boolean;
  readonly initial: number;
  readonly unit: string;
}

/** The simulated reactor: the jacket temperature follows the setpoint; the pump speed is held as written. */
export const SIM_TAGS = {
  jacketTemperature: { name: 'JacketTemperature', writable: false, initial: 20, unit: 'degC' },
  pumpSpeed: { name: 'PumpSpeed', writable: true, initial: 120, unit: 'rpm' },
  setpoint: { name: 'Setpoint', writable: true, initial: 37, unit: 'degC' },
} as const satisfies Record<string, SimTag>;

/** The namespace the simulated tags live in. */
export const SIM_NAMESPACE_URI = 'urn:engine-link:opcua-sim';

/** The node id of a simulated tag, by namespace URI: `nsu=urn:engine-link:opcua-sim;s=Setpoint`. */
export function simNodeId(tag: SimTag): string {
  return `nsu=${SIM_NAMESPACE_URI};s=${tag.name}`;
}

/** A user the simulated server accepts. */
export interface SimUser {
  username: string;
  password: string;
}

/** Options of the `OpcUaSimServer`. */
export interface OpcUaSimServerOptions {
  /** TCP port; 0 picks a free one (see `port` on the result). Default 4840. */
  port?: number;
  /** Interface to listen on, and the host name the endpoints advertise. Default '127.0.0.1'. */
  host?: string;
  /** Users allowed to sign in with a user name and password. Default none. */
  users?: readonly SimUser[];
  /** Whether anonymous sessions are allowed. Default: only when no `users` are given. */
  allowAnonymous?: boolean;
  /** The server's certificate store (its own certificate is created there if missing). Default `~/.config/engine-link/opcua/sim`. */
  pkiDir?: string;
  /** How often the jacket temperature moves towards the setpoint, ms. Default 200. */
  tickMs?: number;
  /** The tags the address space offers. Default all of `SIM_TAGS`. */
  tags?: readonly SimTag[];
}

/** A write a client made to a tag, with how many writes that tag has had since the server started. */
export interface SimWrite {
  tag: string;
  nodeId: string;
  value: number;
  count: number;
  /** Which Write service call carried it (1, 2, ...): writes batched in one call share it. */
  request: number;
}

export interface OpcUaSimServerEvents {
  write: [write: SimWrite];
}

/** How fast the jacket temperature closes the gap to the setpoint: time constant, ms. */
const JACKET_TIME_CONSTANT_MS = 20_000;

/**
 * A node-opcua server with a few tags of a simulated reactor (see `SIM_TAGS`): `engine-link opcua-sim`
 * runs one, tests start it as a process of its own to kill and restart it. Every write a client makes
 * is announced (`write` event) with a count per tag, so a test can check what reached the server.
 * Security: the endpoints offer None, Sign and SignAndEncrypt (Basic256Sha256); client certificates are
 * accepted without prior trust (a simulator, not a plant).
 */
export class OpcUaSimServer extends EventEmitter<OpcUaSimServerEvents> {
  readonly values = new Map<string, number>();
  readonly writeCounts = new Map<string, number>();
  private server: OPCUAServer | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private boundPort = 0;
  private writeRequests = 0;

  constructor(private readonly options: OpcUaSimServerOptions = {}) {
    super();
    for (const tag of Object.values(SIM_TAGS)) {
      this.values.set(tag.name, tag.initial);
      this.writeCounts.set(tag.name, 0);
    }
  }

  /** The port the server listens on (once started). */
  get port(): number {
    return this.boundPort;
  }

  /** The server's endpoint URL (`opc.tcp://127.0.0.1:<port>`). */
  get endpointUrl(): string {
    return `opc.tcp://${this.options.host ?? '127.0.0.1'}:${this.boundPort}`;
  }

  /** Starts serving the simulated reactor's tags. */
  async start(): Promise<void> {
    const host = this.options.host ?? '127.0.0.1';
    const users = this.options.users ?? [];
    const serverCertificateManager = new OPCUACertificateManager({
      automaticallyAcceptUnknownCertificate: true,
      disableFileWatchers: true,
      rootFolder: this.options.pkiDir ?? defaultPkiDir('sim'),
    });
    const server = new OPCUAServer({
      port: this.options.port ?? 4840,
      host,
      hostname: host,
      allowAnonymous: this.options.allowAnonymous ?? users.length === 0,
      securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
      securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
      serverCertificateManager,
      userManager: {
        isValidUser: (username: string, password: string) =>
          users.some((user) => user.username === username && user.password === password),
      },
      buildInfo: { productName: 'engine-link opcua-sim', manufacturerName: 'engine-link' },
      disableDiscovery: true,
    });
    this.server = server;
    server.on('request', (request) => {
      if (request instanceof WriteRequest) this.writeRequests++;
    });
    await server.initialize();
    this.addTags(server);
    await server.start();
    this.boundPort = this.listeningPort(server);
    const tickMs = this.options.tickMs ?? 200;
    this.ticker = setInterval(() => this.tick(tickMs), tickMs);
  }

  /** Stops the server. */
  async stop(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    const server = this.server;
    this.server = undefined;
    await server?.shutdown(0);
  }

  private addTags(server: OPCUAServer): void {
    const addressSpace = server.engine.addressSpace!;
    const namespace = addressSpace.registerNamespace(SIM_NAMESPACE_URI);
    const reactor = namespace.addObject({
      organizedBy: addressSpace.rootFolder.objects,
      browseName: 'Reactor',
      nodeId: 's=Reactor',
    });
    for (const tag of this.options.tags ?? Object.values(SIM_TAGS)) {
      namespace.addVariable({
        componentOf: reactor,
        browseName: tag.name,
        nodeId: `s=${tag.name}`,
        dataType: 'Double',
        minimumSamplingInterval: 100,
        accessLevel: tag.writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
        userAccessLevel: tag.writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
        value: {
          get: () => new Variant({ dataType: DataType.Double, value: this.values.get(tag.name) }),
          set: tag.writable ? (variant: Variant) => this.written(tag, variant) : null,
        },
      });
    }
  }

  private written(tag: SimTag, variant: Variant) {
    const value = Number(variant.value);
    if (!Number.isFinite(value)) return StatusCodes.BadOutOfRange;
    this.values.set(tag.name, value);
    const count = (this.writeCounts.get(tag.name) ?? 0) + 1;
    this.writeCounts.set(tag.name, count);
    this.emit('write', { tag: tag.name, nodeId: simNodeId(tag), value, count, request: this.writeRequests });
    return StatusCodes.Good;
  }

  private tick(ms: number): void {
    const name = SIM_TAGS.jacketTemperature.name;
    const current = this.values.get(name)!;
    const target = this.values.get(SIM_TAGS.setpoint.name)!;
    const next = current + (target - current) * (1 - Math.exp(-ms / JACKET_TIME_CONSTANT_MS));
    this.values.set(name, Math.round(next * 1000) / 1000);
  }

  private listeningPort(server: OPCUAServer): number {
    const endpoint = server.endpoints[0];
    const port = endpoint?.port;
    if (typeof port !== 'number' || port === 0)
      throw new Error('opcua-sim: cannot tell the port it listens on');
    return port;
  }
}
