import { createHash } from 'node:crypto';
import fs, { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DurableOutbox } from '../../src/engine/outbox/durable/durableOutbox.ts';
import { OutboxMetaFile } from '../../src/engine/outbox/durable/metaFile.ts';
import { encodeRecord } from '../../src/protocol/records.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';

/**
 * The durable outbox's files, byte for byte: an outbox written by one version is read by the next, so the
 * format may not drift by accident. The digests were taken from the files the durable outbox wrote
 * before it was split into its parts (main at 342942f): the same records, in the same order, with the
 * same clock, give the same bytes.
 */
const EXPECTED = {
  'outbox.meta': 'ab671874f2a7f50f',
  'segment-0000000001.log': 'e15960b3b2a2cc82',
  'segment-0000000002.log': 'a275732962e14bc4',
  'segment-0000000003.log': '9a2344cd2f2465da',
  'segment-0000000004.log': 'bfe4417ba8e2a11a',
};

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('durable outbox format', () => {
  it('writes the same bytes as before: segments (entries, headers, reserves, compaction, a gap) and meta file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'engine-link-format-'));
    dirs.push(dir);
    // A known epoch: a meta file written by hand, as a clean close leaves it.
    const opened = OutboxMetaFile.open(fs, dir, join(dir, 'outbox.meta'));
    opened.file.write({ epoch: 'golden-epoch', ceilingSeq: 0, ackedSeq: 0, clean: true, inMemory: false });
    opened.file.close();
    const clock = new SimulatedClock();
    const outbox = new DurableOutbox({
      path: dir,
      sync: 'batch',
      clock,
      segmentBytes: 64 * 1024,
      // Small enough for the overflow policy to rewrite segments (states coalesced, samples dropped).
      maxBytes: 200 * 1024,
    });
    const t = 1_767_225_600_000;
    for (let k = 0; k < 4000; k++) {
      if (k % 7 === 0)
        outbox.append(
          encodeRecord({ kind: 'state', key: `k${k % 5}`, value: k }, t + k),
          'state',
          `k${k % 5}`,
        );
      else if (k % 11 === 0)
        outbox.append(encodeRecord({ kind: 'event', name: 'e', data: { k } }, t + k), 'event');
      else
        outbox.append(
          encodeRecord({ kind: 'sample', tag: 't', value: k * 1.5, unit: 'degC' }, t + k),
          'sample',
        );
    }
    await clock.advance(500);
    outbox.acknowledge(900);
    outbox.appendGap(outbox.lastSeq + 1, outbox.lastSeq + 10, 3, 'overflow');
    expect(outbox.dropped + outbox.coalesced).toBeGreaterThan(0);
    await outbox.close();

    const digests: Record<string, string> = {};
    for (const name of readdirSync(dir).sort())
      digests[name] = createHash('sha256')
        .update(readFileSync(join(dir, name)))
        .digest('hex')
        .slice(0, 16);
    expect(digests).toEqual(EXPECTED);
  });
});
