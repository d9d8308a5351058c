import { crc32 } from './crc32.ts';
import type { OutboxFileSystem } from './fileSystem.ts';
import { syncDirectory } from './fileSystem.ts';

/** What the durable outbox keeps beside its segments. */
export interface OutboxMeta {
  epoch: string;
  /** No sequence number above this one has been handed out (while `clean`: exactly the last one). */
  ceilingSeq: number;
  /** Everything up to here was acknowledged by the aggregator (segments below it may be gone). */
  ackedSeq: number;
  /** Written by a clean close: every record was written and synced, and `ceilingSeq` is the last. */
  clean: boolean;
  /** Records were being held in memory because the disk failed, when this was written. */
  inMemory: boolean;
}

const SLOT_BYTES = 512;
const SLOT_HEADER_BYTES = 16;
const SLOT_MAGIC = 0x4d4f4c45; // "ELOM"

/**
 * The meta file: two fixed slots of 512 bytes, overwritten in place by turns, each with a generation
 * and a CRC. A write torn by a power cut spoils only the slot being written; the other still holds the
 * previous state. Overwriting bytes already allocated needs no new disk blocks, so this keeps working on
 * a full disk (on ordinary, not copy-on-write, file systems).
 */
export class OutboxMetaFile {
  private generation: number;

  private constructor(
    private readonly files: OutboxFileSystem,
    private readonly fd: number,
    generation: number,
  ) {
    this.generation = generation;
  }

  /** Opens (or creates, empty) the meta file and reads the newest intact slot. */
  static open(
    files: OutboxFileSystem,
    dir: string,
    path: string,
  ): { file: OutboxMetaFile; meta: OutboxMeta | undefined } {
    let fd: number;
    try {
      fd = files.openSync(path, 'r+');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      fd = files.openSync(path, 'w+');
      files.writeSync(fd, Buffer.alloc(SLOT_BYTES * 2), 0, SLOT_BYTES * 2, 0);
      files.fdatasyncSync(fd);
      syncDirectory(files, dir);
    }
    const bytes = Buffer.alloc(SLOT_BYTES * 2);
    files.readSync(fd, bytes, 0, bytes.length, 0);
    let best: { generation: number; meta: OutboxMeta } | undefined;
    for (let slot = 0; slot < 2; slot++) {
      const read = readSlot(bytes.subarray(slot * SLOT_BYTES, (slot + 1) * SLOT_BYTES));
      if (read && (!best || read.generation > best.generation)) best = read;
    }
    return { file: new OutboxMetaFile(files, fd, best?.generation ?? 0), meta: best?.meta };
  }

  /** Writes `meta` into the older slot and syncs it. Throws what the file system throws. */
  write(meta: OutboxMeta): void {
    const generation = this.generation + 1;
    const json = Buffer.from(JSON.stringify(meta), 'utf8');
    if (json.length > SLOT_BYTES - SLOT_HEADER_BYTES) throw new RangeError('outbox meta too large');
    const slot = Buffer.alloc(SLOT_BYTES);
    slot.writeUInt32LE(SLOT_MAGIC, 0);
    slot.writeUInt32LE(generation, 4);
    slot.writeUInt32LE(json.length, 8);
    json.copy(slot, SLOT_HEADER_BYTES);
    slot.writeUInt32LE(slotCrc(slot, json.length), 12);
    this.files.writeSync(this.fd, slot, 0, SLOT_BYTES, (generation % 2) * SLOT_BYTES);
    this.files.fdatasyncSync(this.fd);
    this.generation = generation;
  }

  close(): void {
    this.files.closeSync(this.fd);
  }
}

function slotCrc(slot: Buffer, length: number): number {
  return crc32(slot, SLOT_HEADER_BYTES, SLOT_HEADER_BYTES + length, crc32(slot, 4, 12));
}

function readSlot(slot: Buffer): { generation: number; meta: OutboxMeta } | undefined {
  if (slot.readUInt32LE(0) !== SLOT_MAGIC) return undefined;
  const length = slot.readUInt32LE(8);
  if (length > SLOT_BYTES - SLOT_HEADER_BYTES || slotCrc(slot, length) !== slot.readUInt32LE(12))
    return undefined;
  try {
    const meta = JSON.parse(
      slot.toString('utf8', SLOT_HEADER_BYTES, SLOT_HEADER_BYTES + length),
    ) as OutboxMeta;
    if (typeof meta.epoch !== 'string' || !Number.isSafeInteger(meta.ceilingSeq)) return undefined;
    return { generation: slot.readUInt32LE(4), meta };
  } catch {
    return undefined;
  }
}

/**
 * What the durable outbox writes to its meta file, and when: the epoch, the acknowledged sequence
 * number and whether records are held in memory (read at each write), and the ceiling, kept above every
 * sequence number handed out so that a crash never hands one out twice.
 */
export class OutboxMetaKeeper {
  /** No sequence number above this has been handed out. */
  ceilingSeq: number;
  /**
   * The meta file on disk says records are held in memory (the last write that worked said so): a
   * restart then resumes above `ceilingSeq`, so numbers up to it may be handed out from memory.
   */
  inMemoryOnDisk = false;
  /** Where to try writing the ceiling again after a failure (while records are in memory). */
  private retryCeilingAt = 0;

  constructor(
    private readonly file: OutboxMetaFile,
    private readonly epoch: string,
    /** How far above the last sequence number the ceiling is raised each time. */
    readonly ceilingStep: number,
    ceilingSeq: number,
    private readonly now: () => { ackedSeq: number; inMemory: boolean },
  ) {
    this.ceilingSeq = ceilingSeq;
  }

  /** Writes the meta file: the current state, with `changes`. Throws what the file system throws. */
  write(changes: Partial<OutboxMeta>): void {
    const { ackedSeq, inMemory } = this.now();
    const meta: OutboxMeta = {
      epoch: this.epoch,
      ceilingSeq: this.ceilingSeq,
      ackedSeq,
      clean: false,
      inMemory,
      ...changes,
    };
    this.file.write(meta);
    this.ceilingSeq = meta.ceilingSeq;
    this.inMemoryOnDisk = meta.inMemory;
  }

  /** Raises the ceiling before a sequence number above it can be written or sent. */
  ensure(seq: number): void {
    if (seq > this.ceilingSeq) this.write({ ceilingSeq: seq + this.ceilingStep });
  }

  /**
   * Notes on disk that records are in memory and raises the ceiling a step above `seq`, so that `seq`
   * may be handed out from memory (a restart resumes above the ceiling). False when the write failed.
   */
  secure(seq: number): boolean {
    try {
      this.write({ inMemory: true, ceilingSeq: Math.max(this.ceilingSeq, seq + this.ceilingStep) });
      return true;
    } catch {
      this.retryCeilingAt = seq + 1000;
      return false;
    }
  }

  /**
   * While records are held in memory their sequence numbers must stay under the ceiling (a crash now
   * must not reuse them). Overwriting the meta file in place needs no new blocks, so this usually works
   * even on a full disk; when it does not, it is tried again every thousand records.
   */
  keepAhead(lastSeq: number): void {
    if (lastSeq < this.retryCeilingAt || lastSeq + this.ceilingStep / 2 < this.ceilingSeq) return;
    try {
      this.write({ ceilingSeq: lastSeq + this.ceilingStep });
    } catch {
      this.retryCeilingAt = lastSeq + 1000;
    }
  }

  close(): void {
    this.file.close();
  }
}
