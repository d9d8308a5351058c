/**
 * What a command's option is, in one place: its kind and bounds (from which both its validation and its
 * help text come, see optionValues.ts), its default, and how it relates to other options. Each command
 * keeps every option's spec, default included, in one exported `specs` object.
 */

interface CommonSpec {
  description: string;
  short?: string;
  /** Only meaningful together with this option: given without it, it is a usage error. */
  requires?: string;
  /** Meaningless together with this option: given with it, it is a usage error. */
  conflicts?: string;
  /** Read from this environment variable when the option is not given (validated alike). */
  env?: string;
}

export interface FlagSpec extends CommonSpec {
  kind: 'flag';
}

/** A whole number from `min` to `max`; `unit` names what is counted (help text). */
export interface IntegerSpec extends CommonSpec {
  kind: 'integer';
  min: number;
  max: number;
  unit?: string;
  default?: number;
}

/** A decimal number from `min` to `max` (above `min` when `aboveMin`). */
export interface NumberSpec extends CommonSpec {
  kind: 'number';
  min: number;
  max: number;
  aboveMin?: boolean;
  unit?: string;
  default?: number;
}

/** A TCP port: 0 (any free port, when `min` is 0) or 1 to 65535. */
export interface PortSpec extends CommonSpec {
  kind: 'port';
  min: 0 | 1;
  default?: number;
}

/**
 * A duration given in `unit` (seconds or milliseconds, decimals allowed), parsed to milliseconds. `max`
 * defaults to the longest a Node timer can wait (2^31 - 1 ms).
 */
export interface DurationSpec extends CommonSpec {
  kind: 'duration';
  unit: 's' | 'ms';
  min: number;
  max?: number;
  /** In `unit`. */
  default?: number;
}

export interface EnumSpec extends CommonSpec {
  kind: 'enum';
  values: readonly string[];
  default?: string;
}

/**
 * A URL with one of `protocols` (such as `['ws:', 'wss:']`); `list`: several, comma-separated. `implied`:
 * the value of the option given bare (`--inspect`).
 */
export interface UrlSpec extends CommonSpec {
  kind: 'url';
  protocols: readonly string[];
  list?: boolean;
  implied?: string;
  default?: string;
}

/** An address to listen on: an IPv4 or IPv6 address, or a host name. */
export interface HostSpec extends CommonSpec {
  kind: 'host';
  default?: string;
}

/**
 * A path. `input-file`: an existing regular file that is read. `output-file`: a file that is created
 * when missing (it must not be a directory; `special` values such as `:memory:` pass as they are).
 * `directory`: a directory that is created when missing (it must not be a file).
 */
export interface PathSpec extends CommonSpec {
  kind: 'path';
  role: 'input-file' | 'output-file' | 'directory';
  special?: readonly string[];
  /**
   * URL schemes (`postgres:`) also accepted in place of a path: such a value must be a URL with a host
   * and a path (a database name); another scheme is refused rather than taken for a file name.
   */
  urlProtocols?: readonly string[];
  default?: string;
}

/**
 * Text: never empty; matching `pattern` (explained by `rule`) when given. `secret`: the option has a
 * `<name>-file` companion (see secretOptions) and should not be given on the command line, where `ps`
 * shows it.
 */
export interface TextSpec extends CommonSpec {
  kind: 'text';
  pattern?: RegExp;
  rule?: string;
  secret?: boolean;
  default?: string;
}

/** A file holding the value of the secret option `secretOf` (its first line, surrounding space removed). */
export interface SecretFileSpec extends CommonSpec {
  kind: 'secret-file';
  secretOf: string;
}

export type OptionSpec =
  | FlagSpec
  | IntegerSpec
  | NumberSpec
  | PortSpec
  | DurationSpec
  | EnumSpec
  | UrlSpec
  | HostSpec
  | PathSpec
  | TextSpec
  | SecretFileSpec;

export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S extends FlagSpec
  ? boolean
  : S extends IntegerSpec | NumberSpec | PortSpec | DurationSpec
    ? number
    : string;

/**
 * The parsed options of a command: numbers for numeric kinds (durations in milliseconds), strings
 * otherwise, `undefined` for an option neither given nor defaulted. A secret's value comes from the
 * option, its `-file` companion or its environment variable, whichever was given.
 */
export type ParsedOptions<T extends OptionSpecs> = {
  -readonly [K in keyof T]: T[K] extends FlagSpec
    ? boolean
    : T[K] extends { default: unknown }
      ? ValueOf<T[K]>
      : ValueOf<T[K]> | undefined;
} & {
  help: boolean;
  /** The options given on the command line (not defaulted, not from the environment). */
  given: ReadonlySet<string>;
};

/**
 * A secret option and its file companion: `--<name> S` (visible to every user through `ps`),
 * `--<name>-file FILE`, or the environment variable `env`.
 */
export function secretOptions<N extends string>(
  name: N,
  description: string,
  env: string,
): Record<N, TextSpec> & Record<`${N}-file`, SecretFileSpec> {
  return {
    [name]: { kind: 'text', secret: true, env, description },
    [`${name}-file`]: {
      kind: 'secret-file',
      secretOf: name,
      conflicts: name,
      description: `file holding the ${name} (first line), kept out of the process list`,
    },
  } as Record<N, TextSpec> & Record<`${N}-file`, SecretFileSpec>;
}
