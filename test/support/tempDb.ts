import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh SQLite file path in its own temporary folder. */
export function tempDbPath(name = 'aggregator.db'): string {
  return join(mkdtempSync(join(tmpdir(), 'engine-link-')), name);
}
