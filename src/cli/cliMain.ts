import { existsSync, readFileSync } from 'node:fs';
import { aggregatorCommand, specs as aggregatorSpecs, aggregatorUsage } from './aggregatorCommand.ts';
import { type OptionSpecs, StartupError, UsageError } from './args.ts';
import { demoCommand, specs as demoSpecs, demoUsage } from './demoCommand.ts';
import { engineCommand } from './engineCommand.ts';
import { engineSpecs, engineUsage } from './engineOptions.ts';
import { inspectorCommand, specs as inspectorSpecs, inspectorUsage } from './inspectorCommand.ts';
import { opcuaSimCommand, specs as opcuaSimSpecs, opcuaSimUsage } from './opcuaSimCommand.ts';
import { statusCommand, specs as statusSpecs, statusUsage } from './statusCommand.ts';

/** Every command: what runs it, its help, and its option specs (whose rules the help and checks share). */
export const commands: Record<
  string,
  { run: (argv: string[]) => Promise<number>; usage: string; specs: OptionSpecs }
> = {
  aggregator: { run: aggregatorCommand, usage: aggregatorUsage, specs: aggregatorSpecs },
  engine: { run: engineCommand, usage: engineUsage, specs: engineSpecs },
  demo: { run: demoCommand, usage: demoUsage, specs: demoSpecs },
  status: { run: statusCommand, usage: statusUsage, specs: statusSpecs },
  inspector: { run: inspectorCommand, usage: inspectorUsage, specs: inspectorSpecs },
  'opcua-sim': { run: opcuaSimCommand, usage: opcuaSimUsage, specs: opcuaSimSpecs },
};

const overview = `Usage: engine-link <command> [options]

Commands:
  aggregator   run the aggregator (HTTP API and engine links on one port)
  engine       run an engine (simulated) that survives outages without losing a record
  demo         an aggregator, two simulated engines and a flaky link, all in one process
  status       print an aggregator's engines and runs as tables (or --json)
  inspector    relay state machines to the Stately inspector (start commands with --inspect)
  opcua-sim    a simulated OPC UA server (a reactor's tags) for engines run with --opcua

Run 'engine-link <command> --help' for a command's options, 'engine-link --version' for the version.
`;

/**
 * engine-link's version, from its package.json: two folders up from the sources (src/cli/), three from
 * the built code (dist/src/cli/).
 */
export function version(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    const url = new URL(up, import.meta.url);
    if (!existsSync(url)) continue;
    const pkg = JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version: string };
    if (pkg.name === 'engine-link') return pkg.version;
  }
  throw new Error('engine-link: its package.json is missing');
}

const VERSION_FLAGS = new Set(['--version', '-V']);

/**
 * Runs one command line and returns the exit status: 0 done, 1 failed (a start-up failure gets one line
 * saying what and why; anything unforeseen its stack), 2 a bad command line (one line naming the problem,
 * and where the help is).
 */
export async function cliMain(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name !== undefined && (VERSION_FLAGS.has(name) || name === 'version')) {
    process.stdout.write(`engine-link ${version()}\n`);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(overview);
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`engine-link: unknown command "${name}"; see 'engine-link --help'\n`);
    return 2;
  }
  const end = rest.indexOf('--');
  if ((end < 0 ? rest : rest.slice(0, end)).some((arg) => VERSION_FLAGS.has(arg))) {
    process.stdout.write(`engine-link ${version()}\n`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`engine-link ${name}: ${error.message}; see 'engine-link ${name} --help'\n`);
      return 2;
    }
    if (error instanceof StartupError) {
      process.stderr.write(`engine-link ${name}: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`engine-link ${name}: ${(error as Error).stack ?? error}\n`);
    return 1;
  }
}
