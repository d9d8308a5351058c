import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, tableCrc32 } from '../../src/engine/outbox/durable/crc32.ts';
import { seededRandom } from '../support/seededRandom.ts';

/** The CRC the durable outbox writes is the standard CRC-32 (zlib, gzip), whichever Node computes it. */
describe('crc32', () => {
  it('gives the standard check value', () => {
    expect(tableCrc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(tableCrc32(Buffer.alloc(0))).toBe(0);
  });

  it('agrees with the CRC gzip writes in its trailer, for every length and alignment', () => {
    const random = seededRandom(32);
    for (let length = 0; length < 300; length += 7) {
      const bytes = Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
      const gzip = zlib.gzipSync(bytes);
      const expected = gzip.readUInt32LE(gzip.length - 8);
      expect(tableCrc32(bytes)).toBe(expected);
      expect(crc32(bytes)).toBe(expected);
      // Continued over two ranges, as records are checked (header, then payload).
      const cut = Math.floor(length / 3);
      expect(tableCrc32(bytes, cut, length, tableCrc32(bytes, 0, cut))).toBe(expected);
      expect(crc32(bytes, cut, length, crc32(bytes, 0, cut))).toBe(expected);
    }
  });
});
