import { createServer } from 'node:net';
import { createInspectorServer } from '@statelyai/inspect/server';
import { DEFAULT_INSPECT_URL } from '../inspect/inspectTarget.ts';
import { helpText, numberOption, type OptionSpecs, parseOptions } from './args.ts';

const defaultPort = new URL(DEFAULT_INSPECT_URL).port;

const specs = {
  port: { type: 'string', description: 'port of the relay (page and WebSocket)', default: defaultPort },
  open: { type: 'boolean', description: 'open the page in the default browser', default: false },
} satisfies OptionSpecs;

export const inspectorUsage = helpText(
  `engine-link inspector [--port ${defaultPort}] [--open]`,
  "Runs @statelyai/inspect's relay: a WebSocket that commands started with --inspect send their state\n" +
    'machines to, and a page at http://localhost:PORT that shows them live in the Stately inspector\n' +
    '(the page loads the inspector from stately.ai, so the browser needs the internet). Stops on Ctrl-C.',
  specs,
);

/** Whether something already listens on `port` (the relay itself would crash with a stack trace). */
function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(true));
    probe.listen(port, () => probe.close(() => resolve(false)));
  });
}

export async function inspectorCommand(argv: string[]): Promise<number> {
  const options = parseOptions(argv, specs);
  if (options.help) {
    process.stdout.write(inspectorUsage);
    return 0;
  }
  const port = Math.floor(numberOption(options.port, 'port', Number(defaultPort), 1));
  if (await portInUse(port)) {
    process.stderr.write(`engine-link inspector: port ${port} is in use; choose another with --port\n`);
    return 1;
  }
  const relay = createInspectorServer({ port, autoOpen: options.open });
  const url = port === Number(defaultPort) ? '--inspect' : `--inspect ws://127.0.0.1:${port}`;
  process.stdout.write(
    `engine-link inspector relaying on ws://127.0.0.1:${port}\n` +
      `open http://localhost:${port} in a browser, then start commands with ${url}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  relay.stop();
  // The relay does not close connections still open (a browser page): do not wait for them.
  setTimeout(() => process.exit(0), 500).unref();
  return 0;
}
