import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const OWNER_FILE = 'engine-id';

export class OutboxOwnerError extends Error {
  override readonly name = 'OutboxOwnerError';
}

/**
 * Ties an outbox directory to one engine: the first engine to open it writes its id to `engine-id`; any
 * other engine id is refused, since it would carry on that engine's epoch and numbering under its own
 * name. An outbox made before the file existed is claimed by the first engine that opens it. Without an
 * `engineId` (a library user that does not say) nothing is checked.
 */
export function claimOutbox(dir: string, engineId: string | undefined): void {
  if (engineId === undefined) return;
  const path = join(dir, OWNER_FILE);
  let owner: string | undefined;
  try {
    owner = readFileSync(path, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (owner === undefined || owner === '') {
    writeFileSync(path, `${engineId}\n`);
    return;
  }
  if (owner !== engineId)
    throw new OutboxOwnerError(
      `outbox ${dir} belongs to engine ${owner}, not ${engineId}: an outbox carries one engine's epoch and ` +
        'numbering; give each engine its own --outbox',
    );
}
