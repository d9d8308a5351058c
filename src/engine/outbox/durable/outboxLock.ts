import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'outbox.lock';

export class OutboxInUseError extends Error {
  override readonly name = 'OutboxInUseError';
}

/** Whether a process with this pid exists (ours or anyone's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holderOf(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the outbox directory for this process: two engines sharing one outbox would hand out the same
 * sequence numbers for different records. The lock file names the holder's pid; a lock left by a process
 * that is gone (killed, crashed) is taken over, so a restart after SIGKILL just works. (This process may
 * take over its own lock: tests reopen an outbox they abandoned as if crashed.)
 */
export function lockOutbox(dir: string): { release(): void } {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return {
        release: () => {
          if (holderOf(path) !== process.pid) return;
          try {
            unlinkSync(path);
          } catch {
            // Already gone: nothing to release.
          }
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
      const holder = holderOf(path);
      if (holder !== undefined && holder !== process.pid && processAlive(holder))
        throw new OutboxInUseError(
          `outbox ${dir} is in use by process ${holder}: two engines must never share an outbox ` +
            '(they would number different records alike); give each engine its own --outbox',
        );
      unlinkSync(path);
    }
  }
}
