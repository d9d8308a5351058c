import { closeSync, fdatasyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { nodeFileSystem, syncDirectory } from './outbox/durable/fileSystem.ts';

/** What the journal holds of a command id: the command, and its answer once it has one. */
export interface JournalEntry {
  id: string;
  name: string;
  fingerprint: string;
  /** Absent: the engine stopped (crashed) while the command ran. */
  answer?: { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } };
}

/** The file beside a durable outbox's segments (the outbox directory belongs to one engine id). */
export const COMMAND_JOURNAL_FILE = 'commands.log';

/**
 * The command log on disk, so that a command id retried after an engine restart is answered, not run
 * again: one JSON line when a command starts (synced before it runs) and one when it has its answer.
 * Bounded: once it holds more than twice `capacity` lines it is rewritten with the last `capacity` ids
 * (a new file renamed over the old). A torn last line (a crash while writing it) is ignored on reading.
 */
export class CommandJournal {
  private lines: number;
  private readonly path: string;

  /** Opens (or creates) the journal in `dir` and returns it with the entries it holds, oldest first. */
  static open(dir: string, capacity: number): { journal: CommandJournal; entries: JournalEntry[] } {
    const path = join(dir, COMMAND_JOURNAL_FILE);
    const entries = readEntries(path);
    const journal = new CommandJournal(path, capacity, entries.size);
    return { journal, entries: [...entries.values()] };
  }

  private constructor(
    path: string,
    private readonly capacity: number,
    lines: number,
  ) {
    this.path = path;
    this.lines = lines;
  }

  /** The command is about to run: written and synced first (throws what the file system throws). */
  started(entry: JournalEntry): void {
    this.append(entry);
  }

  /** The command's answer (written and synced; a failure leaves the entry without one). */
  answered(entry: JournalEntry, live: Iterable<JournalEntry>): void {
    this.append(entry);
    if (this.lines > 2 * this.capacity) this.rewrite(live);
  }

  /** Opened for each line (commands are few), so a killed engine leaves no descriptor behind. */
  private append(entry: JournalEntry): void {
    const line = Buffer.from(`${JSON.stringify(entry)}\n`, 'utf8');
    const fd = openSync(this.path, 'a');
    try {
      writeSync(fd, line, 0, line.length);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.lines++;
  }

  /** Rewrites the journal with `live` (the ids the log remembers), atomically. */
  private rewrite(live: Iterable<JournalEntry>): void {
    const temporary = `${this.path}.new`;
    const text = [...live].map((entry) => JSON.stringify(entry)).join('\n');
    const fd = openSync(temporary, 'w');
    try {
      const bytes = Buffer.from(text.length > 0 ? `${text}\n` : '', 'utf8');
      writeSync(fd, bytes, 0, bytes.length);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.path);
    syncDirectory(nodeFileSystem, join(this.path, '..'));
    this.lines = text.length > 0 ? text.split('\n').length : 0;
  }
}

/** The latest entry of each id, in the order the ids were first seen; unreadable lines skipped. */
function readEntries(path: string): Map<string, JournalEntry> {
  const entries = new Map<string, JournalEntry>();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return entries;
    throw error;
  }
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    try {
      const entry = JSON.parse(line) as JournalEntry;
      if (typeof entry.id === 'string' && typeof entry.fingerprint === 'string') entries.set(entry.id, entry);
    } catch {
      // A line torn by a crash: the command it was about never ran (its start was not synced).
    }
  }
  return entries;
}
