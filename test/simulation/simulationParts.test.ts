import { describe, expect, it } from 'vitest';
import { Random } from '../../src/simulation/random.ts';
import { failureReport, replayCommand } from '../../src/simulation/report.ts';
import { SimulatedDisk } from '../../src/simulation/simulatedDisk.ts';
import type { SimulationResult } from '../../src/simulation/simulation.ts';

describe('Random (sfc32)', () => {
  it('a seed gives the same numbers; another seed others; all in [0, 1)', () => {
    const draw = (seed: number) =>
      Array.from(
        { length: 1000 },
        (
          (r) => () =>
            r.next()
        )(new Random(seed)),
      );
    const a = draw(7);
    expect(draw(7)).toEqual(a);
    expect(draw(8)).not.toEqual(a);
    expect(a.every((x) => x >= 0 && x < 1)).toBe(true);
    // Roughly uniform: each tenth of [0, 1) gets 5 % to 15 % of the draws.
    for (let tenth = 0; tenth < 10; tenth++) {
      const n = a.filter((x) => Math.floor(x * 10) === tenth).length;
      expect(n).toBeGreaterThan(50);
      expect(n).toBeLessThan(150);
    }
  });
});

describe('SimulatedDisk', () => {
  const bytes = (text: string) => Buffer.from(text);
  const read = (files: ReturnType<SimulatedDisk['mount']>['files'], path: string) => {
    const fd = files.openSync(path, 'r');
    const size = files.fstatSync(fd).size;
    const buffer = Buffer.alloc(size);
    files.readSync(fd, buffer, 0, size, 0);
    files.closeSync(fd);
    return buffer.toString();
  };

  it('a crash keeps what was synced and a prefix of the rest; a killed process can do nothing more', () => {
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const disk = new SimulatedDisk(new Random(seed));
      const { files, unmount } = disk.mount();
      files.mkdirSync('/d', { recursive: true });
      const fd = files.openSync('/d/f', 'w+');
      files.writeSync(fd, bytes('synced.'), 0, 7, 0);
      files.fdatasyncSync(fd);
      files.writeSync(fd, bytes('A'.repeat(600)), 0, 600, 7);
      files.writeSync(fd, bytes('B'.repeat(10)), 0, 10, 607);
      unmount();
      expect(() => files.writeSync(fd, bytes('x'), 0, 1, 0)).toThrow(/EIO/);
      disk.crash('/d/');
      const after = read(disk.mount().files, '/d/f');
      expect(after.startsWith('synced.')).toBe(true);
      // What survives is a prefix of the writes in order: the 600 A's whole, in whole sectors, or not.
      expect([
        'synced.',
        `synced.${'A'.repeat(512)}`,
        `synced.${'A'.repeat(600)}`,
        `synced.${'A'.repeat(600)}${'B'.repeat(10)}`,
      ]).toContain(after);
      outcomes.add(after);
    }
    expect(outcomes.size).toBeGreaterThanOrEqual(3);
  });

  it('ENOSPC fails only writes that need new blocks; EIO fails any write or sync', () => {
    const disk = new SimulatedDisk(new Random(1));
    const { files } = disk.mount();
    files.mkdirSync('/d', { recursive: true });
    const fd = files.openSync('/d/f', 'w+');
    files.writeSync(fd, bytes('0123456789'), 0, 10, 0);
    disk.fault = { code: 'ENOSPC', rate: 1 };
    expect(files.writeSync(fd, bytes('abc'), 0, 3, 2)).toBe(3);
    files.fdatasyncSync(fd);
    expect(() => {
      for (let i = 0; i < 5; i++) files.writeSync(fd, bytes('more'), 0, 4, 10 + 4 * i);
    }).toThrow(/ENOSPC/);
    disk.fault = { code: 'EIO', rate: 1 };
    expect(() => files.fdatasyncSync(fd)).toThrow(/EIO/);
    disk.fault = undefined;
    files.fdatasyncSync(fd);
  });
});

describe('the failure report', () => {
  it('names the seed, the step, the invariant, what was seen, the last events and the replay command', () => {
    const result: SimulationResult = {
      seed: 42,
      steps: 1234,
      simulatedMs: 56_789,
      traceHash: '0123456789abcdef',
      violation: {
        invariant: 'nothing acknowledged that is not stored',
        detail: 'eng-1 epoch e1: acknowledged up to 9, the store holds up to 8',
        step: 1234,
        lastEvents: ['   56.700 frame eng-1#3<agg', '   56.789 group commit'],
      },
      stats: {},
    };
    const report = failureReport(result, { seed: 42, steps: 20_000 });
    expect(report).toContain('INVARIANT VIOLATED: nothing acknowledged that is not stored');
    expect(report).toContain('acknowledged up to 9');
    expect(report).toContain('seed 42, step 1234');
    expect(report).toContain('56.789 group commit');
    expect(report).toContain('replay: npm run simulate -- --seed 42 --steps 20000');
    expect(replayCommand({ seed: 3, hours: 2, engines: 6 })).toBe(
      'npm run simulate -- --seed 3 --hours 2 --engines 6',
    );
  });
});
