import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { EventEmitter } from 'eventemitter3';

/** How often the background thread checkpoints. */
export const CHECKPOINT_INTERVAL_MS = 100;
/**
 * WAL pages (4 KiB each) past which a checkpoint also restarts the log, so that it stops growing under
 * writes that never pause: 16,384 pages, 64 MiB.
 */
export const RESTART_AFTER_PAGES = 16_384;

// The worker is plain JavaScript run from a string: it needs no TypeScript loader, under tsx, vitest or
// plain node alike. It opens its own connection to the database and checkpoints on a timer.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
try {
  db = new Database(workerData.path, { fileMustExist: true });
  db.pragma('busy_timeout = 2000');
} catch (error) {
  parentPort.postMessage({ type: 'failed', message: 'cannot open ' + workerData.path + ': ' + String(error && error.message) });
  process.exit(0);
}
let restartNext = false;
const timer = setInterval(() => {
  try {
    const [row] = db.pragma(restartNext ? 'wal_checkpoint(RESTART)' : 'wal_checkpoint(PASSIVE)');
    restartNext = row.busy === 0 && row.log - row.checkpointed < 1024 && row.log > workerData.restartAfterPages;
    parentPort.postMessage({ type: 'checkpoint', log: row.log, checkpointed: row.checkpointed });
  } catch (error) {
    if (error && error.code === 'SQLITE_BUSY') return;
    clearInterval(timer);
    parentPort.postMessage({ type: 'failed', message: String(error && error.message) });
  }
}, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'close') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/** What the background thread reports. */
type CheckpointerMessage =
  | { type: 'checkpoint'; log: number; checkpointed: number }
  | { type: 'failed'; message: string };

export interface WalCheckpointerEvents {
  /** A checkpoint ran: `log` pages in the WAL, `checkpointed` of them copied into the database. */
  checkpoint: [{ log: number; checkpointed: number }];
  /** The thread failed; no more checkpoints from it. */
  failed: [message: string];
}

/**
 * Checkpoints a WAL database from a thread of its own, so that the thread that commits never copies
 * pages into the database file nor waits for its fsync: with SQLite's automatic checkpoints that work
 * lands on whichever commit crosses the threshold, and at a thousand engines it was a fifth of the
 * aggregator's event loop. The committing connection turns automatic checkpoints off while this runs;
 * should the thread fail, `onFailed` is told (and the caller turns them back on).
 */
export class WalCheckpointer extends EventEmitter<WalCheckpointerEvents> {
  private readonly worker: Worker;
  private readonly onFailed: (message: string) => void;
  private closed = false;
  /** Pages in the WAL at the last checkpoint, and how many of them it had copied. */
  lastLog = 0;
  lastCheckpointed = 0;
  checkpoints = 0;

  constructor(path: string, onFailed: (message: string) => void) {
    super();
    this.onFailed = onFailed;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        path,
        driver,
        intervalMs: CHECKPOINT_INTERVAL_MS,
        restartAfterPages: RESTART_AFTER_PAGES,
      },
    });
    this.worker.unref();
    this.worker.on('message', (message: CheckpointerMessage) => {
      if (message.type === 'checkpoint') {
        this.lastLog = message.log;
        this.lastCheckpointed = message.checkpointed;
        this.checkpoints++;
        this.emit('checkpoint', { log: message.log, checkpointed: message.checkpointed });
      } else this.fail(message.message);
    });
    this.worker.on('error', (error: unknown) =>
      this.fail((error as { message?: unknown } | undefined)?.message?.toString() ?? String(error)),
    );
  }

  /** Stops the thread; its connection closes with it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.worker.postMessage('close');
  }

  private fail(message: string): void {
    if (this.closed) return;
    this.closed = true;
    void this.worker.terminate();
    this.onFailed(message);
    this.emit('failed', message);
  }
}
