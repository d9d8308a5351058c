import fs from 'node:fs';

/**
 * The synchronous file operations the durable outbox uses. `node:fs` by default; tests pass a wrapper
 * that fails on demand (ENOSPC, EIO) to show that a failing disk never stops the engine.
 */
export type OutboxFileSystem = Pick<
  typeof fs,
  | 'closeSync'
  | 'fdatasyncSync'
  | 'fstatSync'
  | 'fsyncSync'
  | 'ftruncateSync'
  | 'mkdirSync'
  | 'openSync'
  | 'readSync'
  | 'readdirSync'
  | 'renameSync'
  | 'unlinkSync'
  | 'writeSync'
>;

export const nodeFileSystem: OutboxFileSystem = fs;

/** Makes a directory's entries (created, renamed, removed files) durable. Best effort where unsupported. */
export function syncDirectory(files: OutboxFileSystem, dir: string): void {
  let fd: number | undefined;
  try {
    fd = files.openSync(dir, 'r');
    files.fsyncSync(fd);
  } catch (error) {
    // Some platforms cannot fsync a directory (EISDIR, EINVAL, EPERM); a real I/O error is worth raising.
    if ((error as NodeJS.ErrnoException).code === 'EIO') throw error;
  } finally {
    if (fd !== undefined) files.closeSync(fd);
  }
}

/** Writes all of `length` bytes at `position`, looping over short writes. */
export function writeFully(
  files: OutboxFileSystem,
  fd: number,
  buffer: Uint8Array,
  length: number,
  position: number,
): void {
  let done = 0;
  while (done < length) {
    const n = files.writeSync(fd, buffer, done, length - done, position + done);
    if (n <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    done += n;
  }
}

/** Removes a file, if it can: what is left behind, recovery skips. */
export function tryUnlink(files: OutboxFileSystem, path: string): void {
  try {
    files.unlinkSync(path);
  } catch {
    // Left behind: recovery skips what it holds.
  }
}
