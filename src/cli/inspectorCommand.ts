import { spawn } from 'node:child_process';
import { platform } from 'node:os';
import { type InspectorRelay, startInspectorRelay } from '../inspect/inspectorRelay.ts';
import { DEFAULT_INSPECT_URL } from '../inspect/inspectTarget.ts';
import { type OptionSpecs, parseOptions, StartupError } from './args.ts';
import { helpText } from './helpText.ts';
import { StopSignals } from './stopSignals.ts';

const defaultPort = Number(new URL(DEFAULT_INSPECT_URL).port);

/** The inspector relay's options: every rule and default in one place (help and checks come from here). */
export const specs = {
  port: {
    kind: 'port',
    min: 0,
    description: 'port of the relay (page and WebSocket; 0: any free port)',
    default: defaultPort,
  },
  host: {
    kind: 'host',
    description: 'address to listen on (machine events are readable by whoever reaches it)',
    default: '127.0.0.1',
  },
  open: { kind: 'flag', description: 'open the page in the default browser' },
} satisfies OptionSpecs;

export const inspectorUsage = helpText(
  `engine-link inspector [--port ${defaultPort}] [--host 127.0.0.1] [--open]`,
  'Relays the state machines of commands started with --inspect to the Stately inspector: a WebSocket\n' +
    'they send their events to, and a page at http://HOST:PORT that shows them live (the page loads the\n' +
    'inspector from stately.ai, so the browser needs the internet). Listens on 127.0.0.1 unless --host\n' +
    'says otherwise; WebSocket connections from pages of other origins are refused. Stops on Ctrl-C.',
  specs,
);

function openBrowser(url: string): void {
  const command = platform() === 'darwin' ? 'open' : platform() === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(command, [url], { detached: true, stdio: 'ignore' });
  child.on('error', () =>
    process.stderr.write(`engine-link inspector: could not open a browser; open ${url}\n`),
  );
  child.unref();
}

export async function inspectorCommand(argv: string[]): Promise<number> {
  const options = parseOptions(argv, specs);
  if (options.help) {
    process.stdout.write(inspectorUsage);
    return 0;
  }
  let relay: InspectorRelay;
  try {
    relay = await startInspectorRelay({ host: options.host, port: options.port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new StartupError(
      code === 'EADDRINUSE'
        ? `port ${options.port} is in use; choose another with --port`
        : `cannot listen on ${options.host}:${options.port}: ${(error as Error).message}`,
    );
  }
  const wildcard = relay.host === '0.0.0.0' || relay.host === '::';
  const page = wildcard ? `http://localhost:${relay.port}` : relay.pageUrl;
  const target = wildcard ? `ws://127.0.0.1:${relay.port}` : relay.wsUrl;
  const flag = target === DEFAULT_INSPECT_URL ? '--inspect' : `--inspect ${target}`;
  process.stdout.write(
    `engine-link inspector relaying on ${relay.wsUrl}${wildcard ? ' (every interface)' : ''}\n` +
      `open ${page} in a browser, then start commands with ${flag}\n`,
  );
  if (options.open) openBrowser(page);
  const signals = new StopSignals((line) => process.stderr.write(`engine-link inspector: ${line}\n`));
  await signals.first;
  await relay.stop();
  signals.dispose();
  return 0;
}
