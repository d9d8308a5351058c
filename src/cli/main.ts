import { aggregatorCommand, aggregatorUsage } from './aggregatorCommand.ts';
import { UsageError } from './args.ts';
import { demoCommand, demoUsage } from './demoCommand.ts';
import { engineCommand, engineUsage } from './engineCommand.ts';
import { inspectorCommand, inspectorUsage } from './inspectorCommand.ts';
import { opcuaSimCommand, opcuaSimUsage } from './opcuaSimCommand.ts';
import { statusCommand, statusUsage } from './statusCommand.ts';

const commands: Record<string, { run: (argv: string[]) => Promise<number>; usage: string }> = {
  aggregator: { run: aggregatorCommand, usage: aggregatorUsage },
  engine: { run: engineCommand, usage: engineUsage },
  demo: { run: demoCommand, usage: demoUsage },
  status: { run: statusCommand, usage: statusUsage },
  inspector: { run: inspectorCommand, usage: inspectorUsage },
  'opcua-sim': { run: opcuaSimCommand, usage: opcuaSimUsage },
};

const overview = `Usage: engine-link <command> [options]

Commands:
  aggregator   run the aggregator (HTTP API and engine links on one port)
  engine       run an engine (simulated) that survives outages without losing a record
  demo         an aggregator, two simulated engines and a flaky link, all in one process
  status       print an aggregator's engines and runs as tables (or --json)
  inspector    relay state machines to the Stately inspector (start commands with --inspect)
  opcua-sim    a simulated OPC UA server (a reactor's tags) for engines run with --opcua

Run 'engine-link <command> --help' for a command's options.
`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(overview);
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`engine-link: unknown command "${name}"\n\n${overview}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`engine-link ${name}: ${error.message}\n\n${command.usage}`);
      return 2;
    }
    process.stderr.write(`engine-link ${name}: ${(error as Error).stack ?? error}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exitCode = 1;
  },
);
