import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DurableOutbox } from '../../src/engine/outbox/durable/durableOutbox.ts';
import { LOCK_FILE, OutboxInUseError } from '../../src/engine/outbox/durable/outboxLock.ts';

/** Two engines must never share a durable outbox: they would number different records alike. */
describe('outbox lock', () => {
  it('refuses an outbox held by another live process, with a clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'engine-link-lock-'));
    // Another live process holds the lock.
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    try {
      writeFileSync(join(dir, LOCK_FILE), `${other.pid}\n`);
      expect(() => new DurableOutbox({ path: dir })).toThrow(OutboxInUseError);
      expect(() => new DurableOutbox({ path: dir })).toThrow(new RegExp(`in use by process ${other.pid}`));
    } finally {
      other.kill('SIGKILL');
      await once(other, 'exit');
    }
    // Now its holder is gone (as after SIGKILL): the lock is taken over.
    const outbox = new DurableOutbox({ path: dir });
    expect(outbox.recovery.resumed).toBe(false);
    await outbox.close();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('holds the lock while open and releases it on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'engine-link-lock-'));
    const outbox = new DurableOutbox({ path: dir });
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
    await outbox.close();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });
});
