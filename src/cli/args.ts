import { parseArgs } from 'node:util';

export interface OptionSpec {
  type: 'string' | 'boolean';
  description: string;
  default?: string | boolean;
  short?: string;
  /** For a string option that may be given bare (`--inspect`): the value it then takes. */
  implied?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Parses a command's options; unknown options and bad values are usage errors naming the option. */
export function parseOptions<T extends OptionSpecs>(
  argv: string[],
  specs: T,
): { [K in keyof T]: T[K]['type'] extends 'boolean' ? boolean : string | undefined } & { help: boolean } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, spec] of Object.entries(specs))
    options[name] = spec.short ? { type: spec.type, short: spec.short } : { type: spec.type };
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: withImpliedValues(argv, specs),
      options,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const out: Record<string, unknown> = { help: values.help === true };
  for (const [name, spec] of Object.entries(specs)) out[name] = values[name] ?? spec.default;
  return out as never;
}

/** `--name` given bare, for an option with an implied value, becomes `--name=<implied>`. */
function withImpliedValues(argv: string[], specs: OptionSpecs): string[] {
  return argv.map((arg, i) => {
    if (!arg.startsWith('--') || arg.includes('=')) return arg;
    const spec = specs[arg.slice(2)];
    if (spec?.type !== 'string' || spec.implied === undefined) return arg;
    const next = argv[i + 1];
    return next === undefined || next.startsWith('-') ? `${arg}=${spec.implied}` : arg;
  });
}

export function numberOption(value: string | undefined, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min)
    throw new UsageError(`--${name} must be a number >= ${min} (got "${value}")`);
  return n;
}

export function helpText(usage: string, summary: string, specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const value = spec.type === 'boolean' ? '' : spec.implied === undefined ? ' <value>' : ' [<value>]';
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${value}`;
    const def =
      spec.default !== undefined
        ? ` (default: ${spec.default})`
        : spec.implied !== undefined
          ? ` (off by default; bare: ${spec.implied})`
          : '';
    return `  ${flag.padEnd(30)} ${spec.description}${def}`;
  });
  rows.push(`  ${'-h, --help'.padEnd(30)} show this help`);
  return `Usage: ${usage}\n\n${summary}\n\nOptions:\n${rows.join('\n')}\n`;
}
