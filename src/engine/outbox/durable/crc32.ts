import zlib from 'node:zlib';

/**
 * CRC-32 (IEEE 802.3, the polynomial of zlib, gzip and PNG) over a byte range, continuing from `crc`.
 *
 * Node's own `zlib.crc32` (native, from Node 20.15 and 22.2) for long ranges when there is one; for
 * short ones, and on earlier Node 20 releases, a slicing-by-8 table implementation of the same function (about 40 lines, checked in the
 * tests against the standard check value and against the CRC that gzip writes in its trailer), so outbox
 * files are the same whichever Node wrote them. A dependency for something this small and this fixed
 * would buy nothing.
 */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  // For a typical record (under a few hundred bytes) the call into native code and the view it needs
  // cost more than the table does in JavaScript.
  return nativeCrc32 && end - start >= NATIVE_FROM_BYTES
    ? nativeCrc32(bytes.subarray(start, end), crc)
    : tableCrc32(bytes, start, end, crc);
}

const NATIVE_FROM_BYTES = 512;

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** TABLES[k][b]: the CRC of byte b followed by k zero bytes (slicing-by-8). */
const TABLES: Uint32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  const first = tables[0]!;
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    first[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = first[n]!;
    for (let k = 1; k < 8; k++) {
      c = first[c & 0xff]! ^ (c >>> 8);
      tables[k]![n] = c >>> 0;
    }
  }
  return tables;
})();

/** The table implementation, exported so tests can check it on any Node. */
export function tableCrc32(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
  ];
  let c = ~crc >>> 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    c =
      t7[lo & 0xff]! ^
      t6[(lo >>> 8) & 0xff]! ^
      t5[(lo >>> 16) & 0xff]! ^
      t4[lo >>> 24]! ^
      t3[bytes[i + 4]!]! ^
      t2[bytes[i + 5]!]! ^
      t1[bytes[i + 6]!]! ^
      t0[bytes[i + 7]!]!;
  }
  for (; i < end; i++) c = t0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
