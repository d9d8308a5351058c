import { itemClass } from '../../../protocol/records.ts';
import { crc32 } from './crc32.ts';

/**
 * One entry of a durable-outbox segment file: the on-disk form of an item (a record or a gap, as it goes
 * on the wire), or of a reserve or a segment header. All integers little-endian:
 *
 *   offset  size  field
 *   0       2     magic EE 4C: never found in UTF-8 text, so after damage a scan for it finds entry
 *                 starts rather than payload bytes
 *   2       1     kind (EntryKind)
 *   3       1     0 (reserved)
 *   4       4     payload length n, in bytes
 *   8       8     sequence number (float64: integers are exact up to 2^53)
 *   16      n     payload (UTF-8)
 *   16 + n  4     CRC-32 of everything before it (bytes 0 .. 16 + n - 1): a torn write fails it
 *
 * Item entries (sample, state, event, gap) carry the item's JSON text and the sequence number it takes
 * (a gap: its first). A reserve entry has no payload; its sequence number is the highest that may have
 * been handed out before the next sync. A segment header carries JSON `{format, epoch, segment}`.
 * (The format is unchanged since the durable outbox was introduced: only the names say "entry" now.)
 */
export const EntryKind = {
  sample: 1,
  state: 2,
  event: 3,
  gap: 4,
  reserve: 8,
  segmentHeader: 9,
} as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

/** Bytes before the payload. */
export const ENTRY_HEADER_BYTES = 16;
/** Bytes an entry takes besides its payload (header and CRC). */
export const ENTRY_OVERHEAD_BYTES = 20;
export const SEGMENT_FORMAT = 1;
/** Larger than any item a frame can carry; a longer length field means damage. */
export const MAX_PAYLOAD_BYTES = 32 * 1024 * 1024;
const MAGIC_0 = 0xee;
const MAGIC_1 = 0x4c;
export const ENTRY_MAGIC = Buffer.from([MAGIC_0, MAGIC_1]);

const KNOWN_KINDS = new Set<number>(Object.values(EntryKind));

/** The entry kind for an encoded item. */
export function itemEntryKind(encodedItem: string): EntryKind {
  switch (itemClass(encodedItem)) {
    case 'sample':
      return EntryKind.sample;
    case 'state':
      return EntryKind.state;
    case 'event':
      return EntryKind.event;
    default:
      return EntryKind.gap;
  }
}

export function isItemKind(kind: number): boolean {
  return kind >= EntryKind.sample && kind <= EntryKind.gap;
}

/** The most bytes an entry of `payload` can take (UTF-8 needs at most 3 bytes per UTF-16 unit). */
export function maxEntryBytes(payload: string): number {
  return ENTRY_OVERHEAD_BYTES + payload.length * 3;
}

/** Writes one entry at `offset` (the buffer must hold `maxEntryBytes(payload)` there); returns its end. */
export function writeEntry(
  buffer: Buffer,
  offset: number,
  kind: EntryKind,
  seq: number,
  payload: string,
): number {
  const length = payload.length === 0 ? 0 : buffer.write(payload, offset + ENTRY_HEADER_BYTES, 'utf8');
  buffer[offset] = MAGIC_0;
  buffer[offset + 1] = MAGIC_1;
  buffer[offset + 2] = kind;
  buffer[offset + 3] = 0;
  buffer.writeUInt32LE(length, offset + 4);
  buffer.writeDoubleLE(seq, offset + 8);
  const crcAt = offset + ENTRY_HEADER_BYTES + length;
  buffer.writeUInt32LE(crc32(buffer, offset, crcAt), crcAt);
  return crcAt + 4;
}

/** A decoded entry header: where it is and what it says. Reused between entries to avoid garbage. */
export class EntryView {
  kind: EntryKind = EntryKind.event;
  seq = 0;
  /** Offset of the entry in the file. */
  offset = 0;
  /** Header and payload bytes. */
  size = 0;
  payloadLength = 0;
}

/**
 * Reads the header at `at` in `buffer` (bytes before `end` are valid). Returns the entry's total size
 * when a whole, intact entry starts there, 0 when one does not, and -(bytes needed) when the buffer
 * ends before the entry does (so the caller can read more and try again).
 */
export function checkEntry(buffer: Buffer, at: number, end: number, view: EntryView): number {
  if (end - at < ENTRY_HEADER_BYTES) return -ENTRY_HEADER_BYTES;
  if (buffer[at] !== MAGIC_0 || buffer[at + 1] !== MAGIC_1 || buffer[at + 3] !== 0) return 0;
  const kind = buffer[at + 2]!;
  if (!KNOWN_KINDS.has(kind)) return 0;
  const length = buffer.readUInt32LE(at + 4);
  if (length > MAX_PAYLOAD_BYTES) return 0;
  const seq = buffer.readDoubleLE(at + 8);
  if (!Number.isSafeInteger(seq) || seq < 0) return 0;
  const size = ENTRY_OVERHEAD_BYTES + length;
  if (end - at < size) return -size;
  const crcAt = at + size - 4;
  if (crc32(buffer, at, crcAt) !== buffer.readUInt32LE(crcAt)) return 0;
  view.kind = kind as EntryKind;
  view.seq = seq;
  view.size = size;
  view.payloadLength = length;
  return size;
}
