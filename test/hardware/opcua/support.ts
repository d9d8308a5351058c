import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HardwareRecoveryState } from '../../../machines/hardwareRecovery.ts';
import { HardwareRecovery } from '../../../src/hardware/hardwareRecovery.ts';
import type { HardwareRecoveryOptions } from '../../../src/hardware/hardwareRecoveryOptions.ts';
import {
  OpcUaHardwareLayer,
  type OpcUaHardwareLayerOptions,
  type OpcUaRegister,
  routeOpcUaLogs,
  SIM_TAGS,
  type SimWrite,
  simNodeId,
} from '../../../src/hardware/opcua/index.ts';
import { type CliProcess, runCli } from '../../support/childProcess.ts';
import { nextEvent } from '../../support/until.ts';

// node-opcua writes its warnings to standard output; the test output stays readable without them.
routeOpcUaLogs(() => {});

export const jacketTemperature: OpcUaRegister = {
  name: 'jacketTemperature',
  direction: 'read',
  nodeId: simNodeId(SIM_TAGS.jacketTemperature),
};
export const pumpSpeed: OpcUaRegister = {
  name: 'pumpSpeed',
  direction: 'readWrite',
  nodeId: simNodeId(SIM_TAGS.pumpSpeed),
};
export const setpoint: OpcUaRegister = {
  name: 'setpoint',
  direction: 'readWrite',
  nodeId: simNodeId(SIM_TAGS.setpoint),
};
export const simRegisters = [jacketTemperature, pumpSpeed, setpoint];

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `engine-link-${prefix}-`));
}

/**
 * `engine-link opcua-sim` as its own process, started through the CLI like a user would, on a port of
 * its own (`--port 0` the first time; restarts reuse it) with a certificate store kept across restarts.
 */
export class SimProcess {
  process: CliProcess | undefined;
  port = 0;
  readonly pkiDir = tempDir('opcua-sim-pki');

  constructor(private readonly extraArgs: readonly string[] = []) {}

  get url(): string {
    return `opc.tcp://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const p = runCli(['opcua-sim', '--port', String(this.port), '--pki', this.pkiDir, ...this.extraArgs]);
    this.process = p;
    const line = await p.waitForLine(/^\{"listening"/);
    this.port = (JSON.parse(line) as { listening: { port: number } }).listening.port;
  }

  /** The writes this process announced so far, of one tag (`Setpoint`) or all. */
  writes(tag?: string): SimWrite[] {
    return (this.process?.lines ?? [])
      .filter((line) => line.startsWith('{"write"'))
      .map((line) => (JSON.parse(line) as { write: SimWrite }).write)
      .filter((write) => tag === undefined || write.tag === tag);
  }

  /** Resolves with the next write of `tag` this process announces (or one already announced, matching). */
  async nextWrite(tag: string, value: number): Promise<SimWrite> {
    const line = await this.process!.waitForLine(
      new RegExp(`^\\{"write":\\{"tag":"${tag}".*"value":${value},`),
    );
    return (JSON.parse(line) as { write: SimWrite }).write;
  }

  /** SIGKILL: the server is gone at once, no goodbye to its clients. */
  async kill(): Promise<void> {
    const p = this.process;
    if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.child.kill('SIGKILL');
    await p.exited;
  }
}

/** A layer on `url` with short timeouts, its certificate store in a fresh folder. */
export function simLayer(url: string, options: Partial<OpcUaHardwareLayerOptions> = {}): OpcUaHardwareLayer {
  return new OpcUaHardwareLayer({
    endpointUrl: url,
    registers: simRegisters,
    pkiDir: clientPki(),
    keepAliveMs: 500,
    requestTimeoutMs: 5000,
    connectTimeoutMs: 3000,
    closeTimeoutMs: 500,
    ...options,
  });
}

/** A recovery around `layer` that reconnects soon (300 ms in issue, attempts every 200 ms), error after 2 min. */
export function fastRecovery(
  layer: OpcUaHardwareLayer,
  options: HardwareRecoveryOptions = {},
): HardwareRecovery {
  return new HardwareRecovery(layer, {
    name: 'reactor',
    reconnectAfterMs: 300,
    reconnectScheduleMs: [200],
    errorAfterMs: 120_000,
    ...options,
  });
}

let sharedClientPki: string | undefined;
/** One client certificate store per test file: its certificate is made once. */
export function clientPki(): string {
  sharedClientPki ??= tempDir('opcua-client-pki');
  return sharedClientPki;
}

/** Resolves when the recovery enters `state` (at once if it is there). */
export function reaches(recovery: HardwareRecovery, state: HardwareRecoveryState): Promise<unknown> {
  if (recovery.state === state) return Promise.resolve();
  return nextEvent<{ to: HardwareRecoveryState }>(recovery, 'state', (change) => change.to === state);
}

/** The states a recovery goes through from now on. */
export function recordStates(recovery: HardwareRecovery): HardwareRecoveryState[] {
  const states: HardwareRecoveryState[] = [];
  recovery.on('state', ({ to }) => states.push(to));
  return states;
}
