import { helpText, numberOption, type OptionSpecs, parseOptions, UsageError } from './args.ts';
import { createLogger } from './logger.ts';
import { loadOpcUaModule } from './opcuaOption.ts';

const specs = {
  port: {
    type: 'string',
    description: 'TCP port (0: any free port; the one chosen is printed)',
    default: '4840',
  },
  host: {
    type: 'string',
    description: 'interface to listen on, and the host name the endpoints advertise',
    default: '127.0.0.1',
  },
  user: {
    type: 'string',
    description:
      'let this user sign in, as NAME:PASSWORD; anonymous sessions are then refused (see --allow-anonymous)',
  },
  'allow-anonymous': {
    type: 'boolean',
    description: 'allow anonymous sessions even with --user',
    default: false,
  },
  pki: {
    type: 'string',
    description:
      "folder of the server's certificate store, its certificate created there if missing (default: node-opcua's)",
  },
  'tick-ms': { type: 'string', description: 'how often the jacket temperature moves (ms)', default: '200' },
  'log-level': { type: 'string', description: 'fatal|error|warn|info|debug|trace|silent', default: 'info' },
} satisfies OptionSpecs;

export const opcuaSimUsage = helpText(
  'engine-link opcua-sim [--port 4840] [--user NAME:PASSWORD]',
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
  const port = numberOption(options.port, 'port', 4840, 0);
  if (!Number.isInteger(port) || port > 65_535)
    throw new UsageError(`--port must be 0 to 65535 (got "${options.port}")`);
  const log = createLogger(options['log-level'], 'opcua-sim');
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
    tickMs: numberOption(options['tick-ms'], 'tick-ms', 200, 10),
  });
  server.on('write', (write) => printLine({ write }));
  await server.start();
  printLine({ listening: { url: server.endpointUrl, port: server.port } });
  log.info({ url: server.endpointUrl, users: users.map((u) => u.username) }, 'OPC UA simulator listening');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.stop();
  return 0;
}

function parseUser(value: string): { username: string; password: string } {
  const colon = value.indexOf(':');
  if (colon <= 0 || colon === value.length - 1)
    throw new UsageError(`--user must be NAME:PASSWORD (got "${value}")`);
  return { username: value.slice(0, colon), password: value.slice(colon + 1) };
}

function printLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
