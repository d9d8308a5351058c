import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { engineIdProblem } from '../../protocol/engineId.ts';

/** Engine id → SHA-256 digest of the token that engine must present. */
export type EngineTokens = ReadonlyMap<string, Buffer>;

/** Prefix of a token given by its digest rather than in clear: `sha256:` and 64 hex digits. */
export const HASHED_TOKEN_PREFIX = 'sha256:';

const HEX_DIGEST = /^[0-9a-f]{64}$/i;

/** A token file that cannot be read or parsed, naming the file and the line. */
export class TokenFileError extends Error {
  override readonly name = 'TokenFileError';
}

/** The SHA-256 digest of a token: what is kept in memory and compared (constant time, fixed length). */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The hashed form of a token, for a token file that should not hold tokens in clear. */
export function hashToken(token: string): string {
  return `${HASHED_TOKEN_PREFIX}${tokenDigest(token).toString('hex')}`;
}

/**
 * Builds the per-engine token table from `engineId → token` pairs. A token written `sha256:<hex>` is
 * taken as the digest of the real token (see `hashToken`); anything else is the token itself.
 */
export function engineTokens(entries: Iterable<[string, string]> | Record<string, string>): EngineTokens {
  const pairs = Symbol.iterator in entries ? [...entries] : Object.entries(entries);
  const tokens = new Map<string, Buffer>();
  for (const [engineId, token] of pairs) {
    const badId = engineIdProblem(engineId);
    if (badId) throw new TokenFileError(badId);
    if (typeof token !== 'string' || token.length === 0)
      throw new TokenFileError(`engine ${engineId}: the token must be a non-empty string`);
    if (tokens.has(engineId)) throw new TokenFileError(`engine ${engineId} is listed twice`);
    if (token.startsWith(HASHED_TOKEN_PREFIX)) {
      const hex = token.slice(HASHED_TOKEN_PREFIX.length);
      if (!HEX_DIGEST.test(hex))
        throw new TokenFileError(`engine ${engineId}: a hashed token is "sha256:" and 64 hex digits`);
      tokens.set(engineId, Buffer.from(hex, 'hex'));
    } else tokens.set(engineId, tokenDigest(token));
  }
  return tokens;
}

/**
 * Parses a token file: either a JSON object `{ "engineId": "token", ... }`, or lines `engineId token`
 * (blank lines and lines starting with `#` are ignored). Tokens may be given hashed as `sha256:<hex>`.
 */
export function parseTokenFile(text: string, source = 'token file'): EngineTokens {
  try {
    const trimmed = text.trim();
    if (trimmed.startsWith('{')) {
      let value: unknown;
      try {
        value = JSON.parse(trimmed);
      } catch (error) {
        throw new TokenFileError(`not valid JSON (${(error as Error).message})`);
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new TokenFileError('expected a JSON object of engine ids to tokens');
      const entries = Object.entries(value as Record<string, unknown>);
      for (const [engineId, token] of entries)
        if (typeof token !== 'string')
          throw new TokenFileError(`engine ${engineId}: the token must be a string`);
      return engineTokens(entries as Array<[string, string]>);
    }
    const entries: Array<[string, string]> = [];
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const fields = line.split(/\s+/);
      if (fields.length !== 2)
        throw new TokenFileError(`line ${i + 1}: expected "engineId token", got ${fields.length} fields`);
      entries.push([fields[0]!, fields[1]!]);
    });
    return engineTokens(entries);
  } catch (error) {
    if (error instanceof TokenFileError) throw new TokenFileError(`${source}: ${error.message}`);
    throw error;
  }
}

/** Reads and parses a token file (see `parseTokenFile`). */
export function loadTokenFile(path: string): EngineTokens {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new TokenFileError(`cannot read token file ${path}: ${(error as Error).message}`);
  }
  return parseTokenFile(text, path);
}
