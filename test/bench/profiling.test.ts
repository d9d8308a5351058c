import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stageTable, stageTimes } from '../../bench/profiling/stages.ts';
import { WindowProfile } from '../../bench/profiling/windowProfile.ts';

const SRC = 'file:///repo/src';

/** A profile from stacks (outermost first) and the µs spent with each on top. */
function profileOf(stacks: Array<[frames: Array<[name: string, url: string]>, us: number]>) {
  const nodes: Array<{ id: number; callFrame: { functionName: string; url: string }; children: number[] }> = [
    { id: 1, callFrame: { functionName: '(root)', url: '' }, children: [] },
  ];
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  for (const [frames, us] of stacks) {
    let parent = nodes[0]!;
    for (const [functionName, url] of frames) {
      const node = { id: nodes.length + 1, callFrame: { functionName, url }, children: [] };
      nodes.push(node);
      parent.children.push(node.id);
      parent = node;
    }
    samples.push(parent.id);
    timeDeltas.push(us);
  }
  return { nodes, samples, timeDeltas };
}

describe('bench profiling', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('charges each sample to the nearest engine-link function, through the transport, natives to their caller', () => {
    const times = stageTimes(
      profileOf([
        // An acknowledgement's socket write: through the transport, for the ack.
        [
          [
            ['acknowledge', `${SRC}/aggregator/session/linkConnection.ts`],
            ['write', `${SRC}/transport/webSocketTransport.ts`],
            ['send', 'file:///repo/node_modules/ws/lib/sender.js'],
            ['writev', ''],
          ],
          400,
        ],
        // A coalesced acknowledgement, sent a microtask after the commit.
        [
          [
            ['flushAck', `${SRC}/aggregator/session/linkConnection.ts`],
            ['sendText', `${SRC}/transport/transport.ts`],
            ['writev', ''],
          ],
          100,
        ],
        // The CRC under the codec is the checksum; JSON.parse under it is decoding.
        [
          [
            ['decodeEngineMessage', `${SRC}/protocol/codec.ts`],
            ['crc32', 'node:zlib'],
          ],
          30,
        ],
        [
          [
            ['decodeEngineMessage', `${SRC}/protocol/codec.ts`],
            ['parse', ''],
          ],
          70,
        ],
        // A SQLite step under the store is the store.
        [
          [
            ['storeFrame', `${SRC}/aggregator/session/frameIngest.ts`],
            ['ingest', `${SRC}/aggregator/store/sqliteRecords.ts`],
            ['run', 'file:///repo/node_modules/better-sqlite3/lib/methods/wrappers.js'],
          ],
          200,
        ],
        // ws reading a frame with no engine-link code below it.
        [[['_write', 'file:///repo/node_modules/ws/lib/receiver.js']], 50],
        // A transport event with nobody asking: the WebSocket.
        [[['onMessage', `${SRC}/transport/webSocketTransport.ts`]], 20],
        [[['(garbage collector)', '']], 100],
        [[['(idle)', '']], 1000],
        [
          [
            ['start', 'file:///repo/bench/profiling/windowProfile.ts'],
            ['dispatch', ''],
          ],
          500,
        ],
      ]),
    );
    expect(times.get('ack')).toBe(500);
    expect(times.get('checksum')).toBe(30);
    expect(times.get('decode (JSON)')).toBe(70);
    expect(times.get('store')).toBe(200);
    expect(times.get('ws (reading and framing)')).toBe(70);
    expect(times.get('garbage collector')).toBe(100);
    expect(times.get('idle')).toBe(1000);
    expect(times.get('profiler')).toBe(500);
    // Busy time leaves out idle and the profiler: 970 µs over 10 frames and 20 records.
    const table = stageTable(times, { frames: 10, records: 20 });
    expect(table).toContain('| **all (busy)** | 1 | 100 % | 97.00 | 48.50 |');
    expect(table).toContain('| ack | 1 | 51.5 % | 50.00 | 25.00 |');
  });

  it('profiles a window only when BENCH_CPU_PROF names a folder, with the counts beside it', async () => {
    expect(await new WindowProfile('off', undefined).stop()).toBeUndefined();
    dir = mkdtempSync(join(tmpdir(), 'engine-link-prof-'));
    const profile = new WindowProfile('unit', dir);
    await profile.start();
    let spin = 0;
    for (const end = performance.now() + 50; performance.now() < end; ) spin++;
    const file = await profile.stop({ frames: 3, records: spin > 0 ? 6 : 0 });
    expect(file).toBe(join(dir, `unit-${process.pid}.cpuprofile`));
    const written = JSON.parse(readFileSync(file!, 'utf8')) as { nodes: unknown[]; samples: number[] };
    expect(written.nodes.length).toBeGreaterThan(1);
    expect(written.samples.length).toBeGreaterThan(0);
    expect(existsSync(`${file}.counts.json`)).toBe(true);
    expect(JSON.parse(readFileSync(`${file}.counts.json`, 'utf8'))).toEqual({ frames: 3, records: 6 });
  });
});
