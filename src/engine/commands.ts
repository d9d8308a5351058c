import { commandFingerprint, ID_REUSED, idReusedMessage } from '../protocol/commandIdentity.ts';
import { CommandJournal, type JournalEntry } from './commandJournal.ts';

/** A command from the aggregator, as the engine's handler sees it. */
export interface EngineCommand {
  id: string;
  name: string;
  args: unknown;
}

/** Returns the command's result (any JSON), or throws (preferably a `CommandError`). */
export type CommandHandler = (command: EngineCommand) => unknown | Promise<unknown>;

/** A refusal or failure with a code the aggregator passes on to whoever sent the command. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** How an engine answered a command: its result, or the error code and message it failed with. */
export type CommandAnswer =
  | { ok: true; result: unknown }
  | { ok: false; error: { code: string; message: string } };

/** The code of the answer to an id whose run a restart interrupted (see CommandLog). */
export const INTERRUPTED = 'interrupted-by-restart';

/**
 * Runs each command id at most once: a repeated id (the aggregator asking again after the link died)
 * gets the first run's answer, waiting for it if the first run is still going. An id given again for a
 * different command (another name or other arguments) is not run and gets an `id-reused` error, never
 * the first command's answer. Remembers the last `capacity` ids.
 *
 * With a `journalDir` (the engine's durable outbox directory) it remembers them across restarts too
 * (commandJournal.ts): each command is noted on disk before it runs, and its answer after. An id whose run
 * a crash interrupted is answered `interrupted-by-restart`, not run again. If the note cannot be written
 * the command is not run (`command-log-failed`).
 */
export class CommandLog {
  private readonly answers = new Map<string, { entry: JournalEntry; answer: Promise<CommandAnswer> }>();
  private readonly journal: CommandJournal | undefined;

  constructor(
    private readonly capacity = 1000,
    journalDir?: string,
  ) {
    if (journalDir === undefined) return;
    const { journal, entries } = CommandJournal.open(journalDir, capacity);
    this.journal = journal;
    for (const entry of entries.slice(-capacity)) {
      const answer: CommandAnswer = entry.answer ?? {
        ok: false,
        error: {
          code: INTERRUPTED,
          message: `the engine restarted while command ${entry.id} (${entry.name}) ran; it is not run again`,
        },
      };
      this.answers.set(entry.id, { entry, answer: Promise.resolve(answer) });
    }
  }

  run(command: EngineCommand, handler: CommandHandler | undefined): Promise<CommandAnswer> {
    const fingerprint = commandFingerprint(command.name, command.args);
    const known = this.answers.get(command.id);
    if (known)
      return known.entry.fingerprint === fingerprint
        ? known.answer
        : Promise.resolve({
            ok: false,
            error: { code: ID_REUSED, message: idReusedMessage(command.id, known.entry.name, command.name) },
          });
    const entry: JournalEntry = { id: command.id, name: command.name, fingerprint };
    try {
      this.journal?.started(entry);
    } catch (error) {
      const message = `the engine could not note command ${command.id} on disk: ${(error as Error).message}`;
      return Promise.resolve({ ok: false, error: { code: 'command-log-failed', message } });
    }
    const answer = this.execute(command, handler).then((result) => this.noteAnswer(entry, result));
    this.answers.set(command.id, { entry, answer });
    if (this.answers.size > this.capacity) this.answers.delete(this.answers.keys().next().value as string);
    return answer;
  }

  private noteAnswer(entry: JournalEntry, answer: CommandAnswer): CommandAnswer {
    entry.answer = answer;
    try {
      this.journal?.answered(
        entry,
        [...this.answers.values()].map((known) => known.entry),
      );
    } catch {
      // Not noted: after a restart the id is answered as interrupted, still never run again.
    }
    return answer;
  }

  private async execute(command: EngineCommand, handler: CommandHandler | undefined): Promise<CommandAnswer> {
    if (!handler)
      return { ok: false, error: { code: 'unsupported', message: 'this engine does not take commands' } };
    try {
      const result = await handler(command);
      return { ok: true, result: result === undefined ? null : result };
    } catch (error) {
      const code = error instanceof CommandError ? error.code : 'command-failed';
      return { ok: false, error: { code, message: (error as Error).message ?? String(error) } };
    }
  }
}
