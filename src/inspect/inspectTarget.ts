/** Where `--inspect` sends inspection events when it is given without a URL (see `engine-link inspector`). */
export const DEFAULT_INSPECT_URL = 'ws://127.0.0.1:8090';

/** The environment variable that turns inspection on without a flag: `1`/`true`, or a `ws://` URL. */
export const INSPECT_ENV = 'ENGINE_LINK_INSPECT';

const OFF = new Set(['', '0', 'false', 'no', 'off']);
const ON = new Set(['1', 'true', 'yes', 'on']);

export class InspectTargetError extends Error {
  override readonly name = 'InspectTargetError';
}

function parseTarget(value: string, origin: string): string {
  const text = value.trim();
  if (ON.has(text.toLowerCase())) return DEFAULT_INSPECT_URL;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InspectTargetError(`${origin} must be a ws:// or wss:// URL (got "${value}")`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:')
    throw new InspectTargetError(`${origin} must be a ws:// or wss:// URL (got "${value}")`);
  return text;
}

/**
 * The WebSocket URL that machine inspection events go to, or undefined when inspection is off.
 * `flag` is the value of `--inspect` (`true` when given without a URL, undefined when absent); the flag
 * wins over `ENGINE_LINK_INSPECT`, whose `1`/`true` means the default URL and `0`/`false`/empty means off.
 */
export function resolveInspectUrl(
  flag: string | boolean | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (flag === true) return DEFAULT_INSPECT_URL;
  if (typeof flag === 'string') return parseTarget(flag, '--inspect');
  const fromEnv = env[INSPECT_ENV];
  if (fromEnv === undefined || OFF.has(fromEnv.trim().toLowerCase())) return undefined;
  return parseTarget(fromEnv, INSPECT_ENV);
}
