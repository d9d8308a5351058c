import { basename, dirname } from 'node:path';
import type { OutboxFileSystem } from '../engine/outbox/durable/fileSystem.ts';
import type { Random } from './random.ts';

/** A write or truncation the disk has taken but not yet made durable (no fsync since). */
type PendingOp = { kind: 'write'; position: number; bytes: Buffer } | { kind: 'truncate'; size: number };

interface SimFile {
  /** What the file holds as every process sees it. */
  data: Buffer;
  size: number;
  /** What survives a crash for sure: the file as of its last successful fsync. */
  durable: Buffer;
  /** What was written since, in order: a crash keeps a prefix of it, the last one maybe torn. */
  pending: PendingOp[];
}

/** A fault the disk is in: each write or sync fails with this code at this rate. */
export interface DiskFault {
  code: 'ENOSPC' | 'EIO';
  rate: number;
}

function fsError(code: string, path: string): NodeJS.ErrnoException {
  // The file's name only: the directory is a temporary one, and messages end up in records.
  return Object.assign(new Error(`${code}: simulated disk, ${basename(path)}`), { code });
}

function grow(file: SimFile, size: number): void {
  if (size > file.data.length) {
    const bigger = Buffer.alloc(Math.max(size, file.data.length * 2, 4096));
    file.data.copy(bigger, 0, 0, file.size);
    file.data = bigger;
  }
}

/**
 * An in-memory disk for the durable outboxes of simulated engines, with a page cache's failure modes:
 * what was written and not synced may be lost when the machine crashes (a prefix of the unsynced writes
 * survives, the last of them possibly torn: whole 512-byte sectors of it only); writes and syncs fail with EIO
 * at a chosen rate, and writes that need new blocks (extending a file) with ENOSPC (a failing write may
 * first be short: some bytes written, the next call failing). Directory entries (create, rename, unlink) are durable at once: the model does not lose a
 * file the outbox created and synced the directory of, nor resurrect one it removed.
 */
export class SimulatedDisk {
  private readonly files = new Map<string, SimFile>();
  private readonly dirs = new Set<string>(['/']);
  fault: DiskFault | undefined;
  /** Counters for the summary. */
  readonly stats = { writes: 0, syncs: 0, failures: 0, crashes: 0, tornWrites: 0, lostOps: 0 };

  constructor(private readonly random: Random) {}

  /**
   * The machine crashes: every file keeps what was synced and a prefix of what was not (the last write
   * of that prefix maybe torn). Open descriptors of every process die with it (see `mount`).
   */
  crash(under: string): void {
    this.stats.crashes++;
    for (const [path, file] of this.files) {
      if (!path.startsWith(under)) continue;
      const keep = this.random.int(0, file.pending.length);
      let data = Buffer.from(file.durable);
      let size = data.length;
      const apply = (op: PendingOp, part: number) => {
        if (op.kind === 'truncate') {
          size = Math.min(size, op.size);
          return;
        }
        // Sectors (512 bytes) are written whole: a torn write keeps whole sectors of it.
        const length = part === 1 ? op.bytes.length : Math.floor((op.bytes.length * part) / 512) * 512;
        const end = op.position + length;
        if (end > data.length) {
          const bigger = Buffer.alloc(end);
          data.copy(bigger, 0, 0, size);
          data = bigger;
        }
        op.bytes.copy(data, op.position, 0, length);
        size = Math.max(size, end);
      };
      for (let i = 0; i < keep; i++) apply(file.pending[i]!, 1);
      if (keep < file.pending.length && this.random.chance(0.5)) {
        this.stats.tornWrites++;
        apply(file.pending[keep]!, this.random.next());
      }
      this.stats.lostOps += file.pending.length - keep;
      const durable = Buffer.from(data.subarray(0, size));
      this.files.set(path, { data: Buffer.from(durable), size, durable, pending: [] });
    }
  }

  /** A process's view of the disk: descriptors of its own, all invalid once `unmount()` is called. */
  mount(): { files: OutboxFileSystem; unmount(): void } {
    const fds = new Map<number, { path: string; dir: boolean; failNext: boolean }>();
    let nextFd = 3;
    let dead = false;
    const disk = this;
    const alive = (what: string) => {
      if (dead) throw fsError('EIO', `${what} after the process died`);
    };
    const handle = (fd: number) => {
      alive('fd');
      const open = fds.get(fd);
      if (!open) throw fsError('EBADF', String(fd));
      return open;
    };
    const fileOf = (fd: number) => {
      const open = handle(fd);
      const file = disk.files.get(open.path);
      if (!file) throw fsError('ENOENT', open.path);
      return { open, file };
    };
    /** ENOSPC only hits what needs new blocks (extending a file); EIO hits anything. */
    const maybeFail = (path: string, needsSpace: boolean) => {
      if (disk.fault?.code === 'ENOSPC' && !needsSpace) return;
      if (disk.fault && disk.random.chance(disk.fault.rate)) {
        disk.stats.failures++;
        throw fsError(disk.fault.code, path);
      }
    };
    const write = (fd: number, bytes: Buffer, position: number | undefined): number => {
      const { open, file } = fileOf(fd);
      if (open.failNext) {
        open.failNext = false;
        disk.stats.failures++;
        throw fsError(disk.fault?.code ?? 'EIO', open.path);
      }
      let length = bytes.length;
      const at = position ?? file.size;
      const extending = at + length > file.size;
      if (disk.fault && (disk.fault.code === 'EIO' || extending) && disk.random.chance(disk.fault.rate)) {
        if (length < 2 || disk.random.chance(0.5)) {
          disk.stats.failures++;
          throw fsError(disk.fault.code, open.path);
        }
        // A short write: part of the bytes land, the next call fails.
        length = disk.random.int(1, length - 1);
        open.failNext = true;
      }
      grow(file, at + length);
      bytes.copy(file.data, at, 0, length);
      file.size = Math.max(file.size, at + length);
      file.pending.push({ kind: 'write', position: at, bytes: Buffer.from(bytes.subarray(0, length)) });
      disk.stats.writes++;
      return length;
    };
    const sync = (fd: number) => {
      const { open, file } = fileOf(fd);
      maybeFail(open.path, false);
      file.durable = Buffer.from(file.data.subarray(0, file.size));
      file.pending = [];
      disk.stats.syncs++;
    };
    const files = {
      openSync(path: string, flags: string): number {
        alive(path);
        if (disk.dirs.has(path)) {
          fds.set(nextFd, { path, dir: true, failNext: false });
          return nextFd++;
        }
        if (!disk.dirs.has(dirname(path))) throw fsError('ENOENT', path);
        const exists = disk.files.has(path);
        if (flags.includes('x') && exists) throw fsError('EEXIST', path);
        if (!exists && !flags.startsWith('w') && !flags.startsWith('a')) throw fsError('ENOENT', path);
        if (!exists)
          disk.files.set(path, { data: Buffer.alloc(0), size: 0, durable: Buffer.alloc(0), pending: [] });
        const file = disk.files.get(path)!;
        if (flags.startsWith('w') && exists) {
          file.size = 0;
          file.pending.push({ kind: 'truncate', size: 0 });
        }
        fds.set(nextFd, { path, dir: false, failNext: false });
        return nextFd++;
      },
      closeSync(fd: number): void {
        handle(fd);
        fds.delete(fd);
      },
      fsyncSync(fd: number): void {
        if (handle(fd).dir) return;
        sync(fd);
      },
      fdatasyncSync(fd: number): void {
        sync(fd);
      },
      fstatSync(fd: number): { size: number } {
        return { size: fileOf(fd).file.size };
      },
      ftruncateSync(fd: number, size = 0): void {
        const { open, file } = fileOf(fd);
        maybeFail(open.path, size > file.size);
        if (size > file.size) grow(file, size);
        else file.data.fill(0, size, file.size);
        file.size = size;
        file.pending.push({ kind: 'truncate', size });
      },
      mkdirSync(path: string): void {
        alive(path);
        for (let dir = path; dir !== dirname(dir); dir = dirname(dir)) disk.dirs.add(dir);
      },
      readSync(
        fd: number,
        buffer: Uint8Array,
        offset: number,
        length: number,
        position: number | null,
      ): number {
        const { file } = fileOf(fd);
        const at = position ?? 0;
        const n = Math.max(0, Math.min(length, file.size - at));
        Buffer.from(file.data.buffer, file.data.byteOffset, file.data.length).copy(
          buffer,
          offset,
          at,
          at + n,
        );
        return n;
      },
      readdirSync(dir: string): string[] {
        alive(dir);
        if (!disk.dirs.has(dir)) throw fsError('ENOENT', dir);
        return [...disk.files.keys()].filter((path) => dirname(path) === dir).map((path) => basename(path));
      },
      renameSync(from: string, to: string): void {
        alive(from);
        const file = disk.files.get(from);
        if (!file) throw fsError('ENOENT', from);
        disk.files.delete(from);
        disk.files.set(to, file);
      },
      unlinkSync(path: string): void {
        alive(path);
        if (!disk.files.delete(path)) throw fsError('ENOENT', path);
      },
      writeSync(
        fd: number,
        data: Uint8Array | string,
        offset?: number,
        length?: number,
        position?: number,
      ): number {
        if (typeof data === 'string') return write(fd, Buffer.from(data), undefined);
        const bytes = Buffer.from(data.buffer, data.byteOffset + (offset ?? 0), length ?? data.length);
        return write(fd, bytes, position);
      },
    };
    return {
      files: files as unknown as OutboxFileSystem,
      unmount: () => {
        dead = true;
        fds.clear();
      },
    };
  }
}
