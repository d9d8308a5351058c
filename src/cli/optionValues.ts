import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { MAX_TIMER_MS } from '../time/timerBounds.ts';
import type { DurationSpec, OptionSpec, PathSpec } from './optionSpec.ts';

/**
 * The value rules of every option kind: how a value given as text is checked and converted, and how the
 * same rule reads in the help. A value that breaks its rule is refused with one line naming the option
 * and the problem (`ValueProblem`, turned into a usage error by parseOptions).
 */
export class ValueProblem extends Error {
  override readonly name = 'ValueProblem';
}

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
/** A host name label (RFC 1123). */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** The longest duration a `unit` option may give: what a timer can wait. */
export function durationMax(spec: DurationSpec): number {
  return spec.max ?? (spec.unit === 's' ? Math.floor(MAX_TIMER_MS / 1000) : MAX_TIMER_MS);
}

/** Checks and converts `raw`, the text given for an option of this spec. */
export function parseValue(spec: OptionSpec, raw: string): string | number {
  const text = raw.trim();
  if (text === '') throw new ValueProblem('needs a value (got an empty one)');
  switch (spec.kind) {
    case 'flag':
      throw new ValueProblem('takes no value');
    case 'integer':
    case 'port': {
      const min = spec.min;
      const max = spec.kind === 'port' ? 65_535 : spec.max;
      const n = Number(text);
      if (!INTEGER.test(text) || !Number.isSafeInteger(n) || n < min || n > max)
        throw new ValueProblem(`must be a whole number from ${min} to ${max}`);
      return n;
    }
    case 'number': {
      const n = Number(text);
      const range = spec.aboveMin
        ? `above ${spec.min}, at most ${spec.max}`
        : `from ${spec.min} to ${spec.max}`;
      if (
        !DECIMAL.test(text) ||
        !Number.isFinite(n) ||
        n < spec.min ||
        (spec.aboveMin && n === spec.min) ||
        n > spec.max
      )
        throw new ValueProblem(`must be a number ${range}`);
      return n;
    }
    case 'duration': {
      const n = Number(text);
      const max = durationMax(spec);
      if (!DECIMAL.test(text) || !Number.isFinite(n) || n < spec.min || n > max)
        throw new ValueProblem(
          `must be a number of ${spec.unit === 's' ? 'seconds' : 'milliseconds'} from ${spec.min} to ${max}` +
            (spec.max === undefined ? ' (about 24.8 days: the longest a timer can wait)' : ''),
        );
      return Math.round(spec.unit === 's' ? n * 1000 : n);
    }
    case 'enum':
      if (!spec.values.includes(text)) throw new ValueProblem(`must be one of ${spec.values.join(', ')}`);
      return text;
    case 'url':
      if (spec.list) checkUrlList(text, spec.protocols);
      else checkUrl(text, spec.protocols);
      return text;
    case 'host':
      if (!isHost(text))
        throw new ValueProblem(
          'must be an IPv4 or IPv6 address or a host name (such as 127.0.0.1, ::, lab-pc)',
        );
      return text;
    case 'path':
      checkPath(spec, text);
      return text;
    case 'secret-file':
      checkPath({ kind: 'path', role: 'input-file', description: '' }, text);
      return text;
    case 'text':
      if (spec.pattern && !spec.pattern.test(raw))
        throw new ValueProblem(`must be ${spec.rule ?? spec.pattern}`);
      return raw;
  }
}

function checkUrl(text: string, protocols: readonly string[]): void {
  const schemes = protocols.map((p) => `${p}//`);
  const wanted = schemes.length > 1 ? `${schemes.slice(0, -1).join(', ')} or ${schemes.at(-1)}` : schemes[0];
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ValueProblem(`must be a URL starting with ${wanted}, such as ${protocols[0]}//127.0.0.1:8080`);
  }
  if (!protocols.includes(url.protocol))
    throw new ValueProblem(`must be a URL starting with ${wanted}, not ${url.protocol}//`);
  if (url.hostname === '') throw new ValueProblem('must name a host');
}

/**
 * Comma-separated URLs, each checked as one (the entry that breaks the rule is named); an empty entry, or
 * a URL given twice (the same once parsed: `ws://a:8080` and `ws://a:8080/`), is refused.
 */
function checkUrlList(text: string, protocols: readonly string[]): void {
  const entries = text.split(',');
  // One URL: its problem, as for an option that takes one.
  if (entries.length === 1) {
    checkUrl(text, protocols);
    return;
  }
  const seen = new Map<string, string>();
  for (const [i, raw] of entries.entries()) {
    const part = raw.trim();
    if (part === '')
      throw new ValueProblem(`has an empty entry (number ${i + 1}): separate URLs with one comma`);
    try {
      checkUrl(part, protocols);
    } catch (error) {
      if (error instanceof ValueProblem) throw new ValueProblem(`entry "${part}" ${error.message}`);
      throw error;
    }
    const key = new URL(part).href;
    const earlier = seen.get(key);
    if (earlier !== undefined)
      throw new ValueProblem(
        `gives the same URL twice ("${earlier}"${earlier === part ? '' : ` and "${part}"`}): list each once`,
      );
    seen.set(key, part);
  }
}

/** The entries of a comma-separated option (a `list` URL option), trimmed. */
export function listEntries(text: string): string[] {
  return text.split(',').map((part) => part.trim());
}

/** An IP address, or a host name that is not a malformed dotted address (such as 999.1.1.1). */
export function isHost(text: string): boolean {
  if (isIP(text) !== 0) return true;
  if (text.length > 253 || /^[\d.]+$/.test(text)) return false;
  return text.split('.').every((label) => LABEL.test(label));
}

function stat(path: string) {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') throw new ValueProblem(`${path}: a part of the path is a file, not a directory`);
    throw new ValueProblem(`${path}: ${(error as Error).message}`);
  }
}

/** The nearest existing ancestor of `path` must be a directory, or creating it would fail. */
function checkCreatable(path: string): void {
  let dir = dirname(resolve(path));
  for (;;) {
    const found = stat(dir);
    if (found) {
      if (!found.isDirectory()) throw new ValueProblem(`${path}: ${dir} is a file, not a directory`);
      return;
    }
    const parent = dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

function checkPath(spec: PathSpec, path: string): void {
  if (spec.special?.includes(path)) return;
  if (spec.urlProtocols && /^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    checkDatabaseUrl(path, spec.urlProtocols);
    return;
  }
  const found = stat(path);
  switch (spec.role) {
    case 'input-file':
      if (!found) throw new ValueProblem(`${path} does not exist`);
      if (!found.isFile()) throw new ValueProblem(`${path} is not a regular file`);
      return;
    case 'output-file':
      if (found && !found.isFile()) throw new ValueProblem(`${path} is a directory, not a file`);
      if (!found) checkCreatable(path);
      return;
    case 'directory':
      if (found && !found.isDirectory()) throw new ValueProblem(`${path} is a file, not a directory`);
      if (!found) checkCreatable(path);
      return;
  }
}

/** A database URL: one of `protocols`, with a host and a database name (the password never repeated). */
function checkDatabaseUrl(text: string, protocols: readonly string[]): void {
  const shown = text.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
  const expected = protocols.map((p) => `${p}//user@host/database`).join(' or ');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ValueProblem(`${shown} is not a valid URL: expected ${expected}, or a file path`);
  }
  if (!protocols.includes(url.protocol.toLowerCase()))
    throw new ValueProblem(
      `${shown}: ${url.protocol} URLs are not understood: expected ${expected}, or a file path`,
    );
  if (url.hostname === '') throw new ValueProblem(`${shown} names no host: expected ${expected}`);
  if (url.pathname.length <= 1) throw new ValueProblem(`${shown} names no database: expected ${expected}`);
}

/** How the help names an option's value: `<port>`, `<seconds>`, `<always|batch>`, ... */
export function placeholder(spec: OptionSpec): string {
  switch (spec.kind) {
    case 'flag':
      return '';
    case 'integer':
    case 'number':
      return `<${spec.unit ?? 'n'}>`;
    case 'port':
      return '<port>';
    case 'duration':
      return spec.unit === 's' ? '<seconds>' : '<ms>';
    case 'enum':
      return `<${spec.values.join('|')}>`;
    case 'url':
      return spec.list ? '<url,...>' : '<url>';
    case 'host':
      return '<address>';
    case 'path':
      if (spec.urlProtocols) return '<file|url>';
      return spec.role === 'directory' ? '<dir>' : '<file>';
    case 'secret-file':
      return '<file>';
    case 'text':
      return spec.secret ? '<secret>' : '<text>';
  }
}

/** The rule of an option's value as the help states it (`0-65535`, `1-2147483 s`), if any. */
export function ruleText(spec: OptionSpec): string | undefined {
  switch (spec.kind) {
    case 'integer':
      return `${spec.min}-${spec.max}`;
    case 'number':
      return `${spec.aboveMin ? '>' : ''}${spec.min}-${spec.max}`;
    case 'port':
      return `${spec.min}-65535`;
    case 'duration':
      return `${spec.min}-${durationMax(spec)} ${spec.unit}`;
    case 'url':
      return spec.protocols.map((p) => `${p}//`).join(' ');
    default:
      return undefined;
  }
}
