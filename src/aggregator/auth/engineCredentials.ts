import { timingSafeEqual } from 'node:crypto';
import { type EngineTokens, tokenDigest } from './tokens.ts';

/** How engines prove who they are at the upgrade. */
export interface EngineCredentialsOptions {
  /** A secret every engine may present (shared-secret mode). */
  secret?: string;
  /** Per-engine tokens: a listed engine must present its own token (see tokens.ts). */
  tokens?: EngineTokens;
}

export type CredentialCheck =
  | { ok: true }
  | {
      ok: false;
      /** What the engine is told: the same for a wrong token and for an engine that has none. */
      message: string;
      /** What the aggregator logs. */
      detail: string;
    };

/** Compared against when there is nothing to compare with, so that a refusal takes the usual time. */
const NOTHING = tokenDigest('\u0000engine-link: no token\u0000');

/**
 * Checks an engine's bearer token. Tokens are never compared as text: their SHA-256 digests are, with
 * `timingSafeEqual` (equal lengths whatever the token, so the comparison's time does not depend on how
 * much of a guess was right).
 *
 * - Per-engine tokens: an engine listed must present its own token; another engine's token does not
 *   open its link (a link is for the engine named in its URL, and its hello must name that engine too).
 * - Shared secret: admits any engine not listed in the per-engine tokens.
 * - Neither: every engine is admitted.
 */
export class EngineCredentials {
  private readonly secretDigest: Buffer | undefined;
  private readonly tokens: EngineTokens | undefined;

  constructor(options: EngineCredentialsOptions = {}) {
    this.secretDigest = options.secret === undefined ? undefined : tokenDigest(options.secret);
    this.tokens = options.tokens;
  }

  /** True when engines must present a token. */
  get required(): boolean {
    return this.secretDigest !== undefined || this.tokens !== undefined;
  }

  /** How many engines have their own token. */
  get engines(): number {
    return this.tokens?.size ?? 0;
  }

  check(engineId: string, token: string | undefined): CredentialCheck {
    if (!this.required) return { ok: true };
    if (token === undefined)
      return {
        ok: false,
        message: `invalid token for engine ${engineId} (no bearer token given)`,
        detail: 'no bearer token given',
      };
    const presented = tokenDigest(token);
    const own = this.tokens?.get(engineId);
    const expected = own ?? this.secretDigest;
    // Always one comparison of two 32-byte digests, whether or not there is a token to compare with.
    const equal = timingSafeEqual(presented, expected ?? NOTHING) && expected !== undefined;
    if (equal) return { ok: true };
    return {
      ok: false,
      message: `invalid token for engine ${engineId}`,
      detail: own
        ? 'not the token of this engine in the token file'
        : this.secretDigest
          ? 'not the shared secret'
          : 'the engine is not in the token file',
    };
  }
}
