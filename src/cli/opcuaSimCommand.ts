import {
  type OptionSpecs,
  parseOptions,
  StartupError,
  secretOptions,
  secretWarnings,
  UsageError,
} from './args.ts';
import { helpText } from './helpText.ts';
import { createLogger, logLevelSpec } from './logger.ts';
import { loadOpcUaModule } from './opcuaOption.ts';
import { StopSignals } from './stopSignals.ts';

/** The OPC UA simulator's options: every rule and default in one place (help and checks come from here). */
export const specs = {
  port: {
    kind: 'port',
    min: 0,
    description: 'TCP port (0: any free port; the one chosen is printed)',
    default: 4840,
  },
  host: {
    kind: 'host',
    description: 'interface to listen on, and the host name the endpoints advertise',
    default: '127.0.0.1',
  },
  ...secretOptions(
    'user',
    'let this user sign in, as NAME:PASSWORD; anonymous sessions are then refused (see --allow-anonymous)',
    'ENGINE_LINK_OPCUA_SIM_USER',
  ),
  'allow-anonymous': { kind: 'flag', description: 'allow anonymous sessions even with a user' },
  pki: {
    kind: 'path',
    role: 'directory',
    description:
      "folder of the server's certificate store, its certificate created there if missing (default: node-opcua's)",
  },
  'tick-ms': {
    kind: 'duration',
    unit: 'ms',
    min: 10,
    description: 'how often the jacket temperature moves',
    default: 200,
  },
  'log-level': logLevelSpec,
} satisfies OptionSpecs;

export const opcuaSimUsage = helpText(
  'engine-link opcua-sim [--port 4840] [--user-file F]',
  'A simulated OPC UA server (node-opcua) with the tags of a reactor, for engines run with --opcua and for\n' +
    'tests: Reactor/JacketTemperature (degC, read-only, follows the setpoint), Reactor/PumpSpeed (rpm) and\n' +
    'Reactor/Setpoint (degC), node ids nsu=urn:engine-link:opcua-sim;s=<Name>. Security None, Sign and\n' +
    'SignAndEncrypt (Basic256Sha256; client certificates accepted). Prints {"listening":{url,port}} once\n' +
    'ready, then {"write":{tag,nodeId,value,count}} for every write a client makes. Stops on SIGINT/SIGTERM.',
  specs,
);

export async function opcuaSimCommand(argv: string[]): Promise<number> {
  const options = parseOptions(argv, specs);
  if (options.help) {
    process.stdout.write(opcuaSimUsage);
    return 0;
  }
  const users = options.user === undefined ? [] : [parseUser(options.user)];
  const port = options.port;
  const log = createLogger(options['log-level'], 'opcua-sim');
  for (const warning of secretWarnings(specs, options.given)) log.warn(warning);
  const { OpcUaSimServer, routeOpcUaLogs } = await loadOpcUaModule(
    () => import('../hardware/opcua/index.ts'),
  );
  routeOpcUaLogs((level, message) =>
    log[level === 'error' ? 'error' : 'debug']({ source: 'node-opcua' }, message),
  );
  const server = new OpcUaSimServer({
    port,
    host: options.host,
    users,
    allowAnonymous: users.length === 0 || options['allow-anonymous'],
    pkiDir: options.pki,
    tickMs: options['tick-ms'],
  });
  server.on('write', (write) => printLine({ write }));
  try {
    await server.start();
  } catch (error) {
    await server.stop().catch(() => {});
    const code = (error as NodeJS.ErrnoException).code;
    throw new StartupError(
      code === 'EADDRINUSE'
        ? `cannot listen on ${options.host}:${port}: the port is in use (choose another --port, or 0 for any free one)`
        : `cannot start the OPC UA simulator on ${options.host}:${port}: ${(error as Error).message}`,
    );
  }
  printLine({ listening: { url: server.endpointUrl, port: server.port } });
  log.info({ url: server.endpointUrl, users: users.map((u) => u.username) }, 'OPC UA simulator listening');
  const signals = new StopSignals((line) => log.warn(line));
  await signals.first;
  await server.stop();
  signals.dispose();
  return 0;
}

function parseUser(value: string): { username: string; password: string } {
  const colon = value.indexOf(':');
  if (colon <= 0 || colon === value.length - 1) throw new UsageError('--user must be NAME:PASSWORD');
  return { username: value.slice(0, colon), password: value.slice(colon + 1) };
}

function printLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
