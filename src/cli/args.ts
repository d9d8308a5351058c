import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { OptionSpec, OptionSpecs, ParsedOptions } from './optionSpec.ts';
import { parseValue, ValueProblem } from './optionValues.ts';

export type { OptionSpec, OptionSpecs, ParsedOptions } from './optionSpec.ts';
export { secretOptions } from './optionSpec.ts';

/** A bad command line: one line saying what is wrong; the process exits with status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * A command that could not start for a reason outside its command line (a port in use, a store it
 * cannot open): one line saying what and why; the process exits with status 1.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/**
 * What to say about each secret given on the command line (where `ps` shows it to every user of the
 * machine): where else it could come from.
 */
export function secretWarnings(specs: OptionSpecs, given: ReadonlySet<string>): string[] {
  return Object.entries(specs)
    .filter(([name, spec]) => spec.kind === 'text' && spec.secret && given.has(name))
    .map(
      ([name, spec]) =>
        `--${name} on the command line is visible to every user of this machine (ps): prefer --${name}-file${
          spec.env ? ` or ${spec.env}` : ''
        }`,
    );
}

/** parseArgs' own errors, reworded as this CLI words its usage errors. */
function usageErrorOf(error: Error & { code?: string }): UsageError {
  const option = /'(-[^' ]+)/.exec(error.message)?.[1] ?? '';
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option ${option}`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const argument = /'([^']*)'/.exec(error.message)?.[1] ?? '';
      return new UsageError(`unexpected argument "${argument}": options are written --name value`);
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(error.message)) return new UsageError(`${option} takes no value`);
      if (/ambiguous/.test(error.message))
        return new UsageError(`${option} needs a value (for one starting with -, write ${option}=-1)`);
      return new UsageError(`${option} needs a value`);
    default:
      return new UsageError(error.message.split('\n')[0] ?? error.message);
  }
}

/** `--name` given bare, for an option with an implied value, becomes `--name=<implied>`. */
function withImpliedValues(argv: string[], specs: OptionSpecs): string[] {
  return argv.map((arg, i) => {
    if (!arg.startsWith('--') || arg.includes('=')) return arg;
    const spec = specs[arg.slice(2)];
    if (spec?.kind !== 'url' || spec.implied === undefined) return arg;
    const next = argv[i + 1];
    return next === undefined || next.startsWith('-') ? `${arg}=${spec.implied}` : arg;
  });
}

function defaultOf(spec: OptionSpec): unknown {
  if (spec.kind === 'flag') return false;
  if (!('default' in spec) || spec.default === undefined) return undefined;
  return spec.kind === 'duration' && spec.unit === 's' ? spec.default * 1000 : spec.default;
}

/** Reads a secret from its file: the content without surrounding white space, never empty. */
function readSecretFile(option: string, path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--${option}: cannot read ${path}: ${(error as Error).message}`);
  }
  const secret = text.trim();
  if (secret === '') throw new UsageError(`--${option}: ${path} is empty`);
  return secret;
}

/**
 * Parses a command's options against its specs. Every value is checked by its spec's rule before the
 * command opens anything; whatever is wrong is a `UsageError` of one line naming the option: an unknown
 * option, a value that breaks its rule, an option given without the one it needs or with one it
 * conflicts with. Secrets come from `--name`, `--name-file` or their environment variable.
 */
export function parseOptions<T extends OptionSpecs>(
  argv: string[],
  specs: T,
  env: NodeJS.ProcessEnv = process.env,
): ParsedOptions<T> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, spec] of Object.entries(specs)) {
    const type = spec.kind === 'flag' ? 'boolean' : 'string';
    options[name] = spec.short ? { type, short: spec.short } : { type };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: withImpliedValues(argv, specs),
      options,
      strict: true,
      allowPositionals: false,
    }) as { values: Record<string, string | boolean | undefined> });
  } catch (error) {
    throw usageErrorOf(error as Error & { code?: string });
  }
  const given = new Set(Object.keys(values).filter((name) => name !== 'help'));
  const out: Record<string, unknown> = { help: values.help === true, given };
  if (values.help === true) {
    for (const [name, spec] of Object.entries(specs)) out[name] = defaultOf(spec);
    return out as ParsedOptions<T>;
  }
  for (const name of given) {
    const spec = specs[name]!;
    if (spec.requires !== undefined && !given.has(spec.requires))
      throw new UsageError(`--${name} needs --${spec.requires}; without it, it would be ignored`);
    if (spec.conflicts !== undefined && given.has(spec.conflicts))
      throw new UsageError(`--${name} and --${spec.conflicts} cannot be given together`);
  }
  for (const [name, spec] of Object.entries(specs)) {
    const raw = values[name];
    if (spec.kind === 'flag') {
      out[name] = raw === true;
      continue;
    }
    const fromEnv = spec.env === undefined ? undefined : env[spec.env];
    const source =
      typeof raw === 'string'
        ? { text: raw, where: `--${name}` }
        : fromEnv !== undefined && fromEnv !== ''
          ? { text: fromEnv, where: `${spec.env} (environment)` }
          : undefined;
    if (!source) {
      out[name] = defaultOf(spec);
      continue;
    }
    try {
      out[name] = parseValue(spec, source.text);
    } catch (error) {
      if (!(error instanceof ValueProblem)) throw error;
      // A secret is never echoed; a value the problem already names, or an empty one, is not repeated.
      const shown =
        (spec.kind === 'text' && spec.secret) ||
        source.text.trim() === '' ||
        error.message.includes(source.text)
          ? ''
          : ` (got "${source.text}")`;
      throw new UsageError(`${source.where} ${error.message}${shown}`);
    }
  }
  for (const [name, spec] of Object.entries(specs))
    if (spec.kind === 'secret-file' && typeof out[name] === 'string')
      out[spec.secretOf] = readSecretFile(name, out[name] as string);
  return out as ParsedOptions<T>;
}
