import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/faults/waitFor.ts';
import type { EngineSlot } from '../../src/soak/engineSlot.ts';
import { freePort, ProcessWorld } from './support/world.ts';

/**
 * An engine's process lives until it is told to stop, whatever its link does: started while its
 * aggregator is not there yet, or refused by it. Every program is an OS process started through the CLI.
 */
const worlds: ProcessWorld[] = [];
afterEach(async () => {
  for (const world of worlds.splice(0)) await world.cleanup();
});

function world(aggregatorArgs: readonly string[] = []): ProcessWorld {
  const w = new ProcessWorld(aggregatorArgs);
  worlds.push(w);
  return w;
}

const logOf = (slot: EngineSlot) => slot.current?.stderr() ?? '';
const count = (text: string, pattern: RegExp) => text.match(new RegExp(pattern, 'g'))?.length ?? 0;

describe('an engine process', () => {
  it('started before its aggregator keeps running, says why its link is down, and delivers everything once it is up', async () => {
    const w = world();
    w.aggregator.port = await freePort();
    const memory = await w.engine('early-memory', { direct: true, logLevel: 'debug' });
    const durable = await w.engine('early-durable', { direct: true, durable: true, logLevel: 'debug' });
    await Promise.all([memory.start(), durable.start()]);
    for (const slot of [memory, durable]) {
      // What a user sees: why the link is down, and that nothing is lost.
      await waitFor(`${slot.id} says why`, () =>
        /link down \(refused: connect ECONNREFUSED [^)]*\): the engine keeps running and keeps every record; retrying/.test(
          logOf(slot),
        ),
      );
      // And it keeps trying (each attempt is a debug line).
      await waitFor(`${slot.id} retries`, () => {
        w.expectAlive();
        return count(logOf(slot), /"msg":"link buffering\.reconnecting\.opening"/) >= 3;
      });
    }
    w.expectAlive();
    await w.aggregator.start();
    for (const slot of [memory, durable]) {
      await w.until(
        'available, backlog delivered',
        slot.id,
        (v) => v.link === 'available' && v.persistedSeq > 600,
      );
      await waitFor(`${slot.id} says its link is back`, () =>
        /"msg":"link (flushing|connected)"/.test(logOf(slot)),
      );
    }
    await w.finish();
  }, 120_000);

  it('refused by the aggregator (401) keeps running and buffering, retries slowly, and delivers once its token is added (SIGHUP)', async () => {
    const tokens = join(mkdtempSync(join(tmpdir(), 'engine-link-tokens-')), 'tokens.txt');
    writeFileSync(tokens, 'other-engine tok-other\n');
    const w = world(['--tokens', tokens]);
    await w.aggregator.start();
    const engine = await w.engine('late-token', {
      direct: true,
      args: ['--secret', 'tok-late', '--rejected-retry', '1'],
    });
    await engine.start();
    await waitFor('the engine says it was refused, in CLI words', () =>
      /the aggregator refused engine late-token \(401[^)]*\): check --secret .*The engine keeps running and keeps every record; it tries again every 1 s/.test(
        logOf(engine),
      ),
    );
    expect(logOf(engine)).not.toMatch(/reconnect\(\)/);
    const aggregatorLog = () => w.aggregator.current?.stderr() ?? '';
    await waitFor('three attempts, a second apart', () => {
      w.expectAlive();
      return count(aggregatorLog(), /engine refused: invalid token/) >= 3;
    });
    writeFileSync(tokens, 'other-engine tok-other\nlate-token tok-late\n');
    w.aggregator.current!.child.kill('SIGHUP');
    await waitFor('token file reloaded', () => /token file reloaded/.test(aggregatorLog()));
    await w.until('delivering', engine.id, (v) => v.link === 'available' && v.persistedSeq > 400);
    await w.finish();
  }, 90_000);
});

describe('a program with an open ResilientDispatcher', () => {
  it('is held open by it, whatever its link does, until close()', async () => {
    const fixture = resolve(import.meta.dirname, 'support/heldDispatcher.ts');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fixture, `ws://127.0.0.1:${await freePort()}`],
      {
        cwd: resolve(import.meta.dirname, '../..'),
      },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
    const exited = once(child, 'close');
    try {
      // Nothing else holds it: without the dispatcher's hold it would end after the first refusal.
      await waitFor('five retries', () => {
        if (child.exitCode !== null)
          throw new Error(`exited (${child.exitCode}) after ${lines.join(' ')}\n${stderr}`);
        return lines.filter((line) => line.startsWith('{"retry"')).length >= 5;
      });
      child.kill('SIGUSR2');
      const [code] = (await exited) as [number | null];
      expect(code, stderr).toBe(0);
      expect(lines).toContain('{"closed":true}');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 30_000);
});
