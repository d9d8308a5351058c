import { commandFingerprint, ID_REUSED, idReusedMessage } from '../protocol/commandIdentity.ts';

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

/**
 * Runs each command id at most once: a repeated id (the aggregator asking again after the link died)
 * gets the first run's answer, waiting for it if the first run is still going. An id given again for a
 * different command (another name or other arguments) is not run and gets an `id-reused` error, never
 * the first command's answer. Remembers the last `capacity` ids.
 */
export class CommandLog {
  private readonly answers = new Map<
    string,
    { name: string; fingerprint: string; answer: Promise<CommandAnswer> }
  >();

  constructor(private readonly capacity = 1000) {}

  run(command: EngineCommand, handler: CommandHandler | undefined): Promise<CommandAnswer> {
    const fingerprint = commandFingerprint(command.name, command.args);
    const known = this.answers.get(command.id);
    if (known)
      return known.fingerprint === fingerprint
        ? known.answer
        : Promise.resolve({
            ok: false,
            error: { code: ID_REUSED, message: idReusedMessage(command.id, known.name, command.name) },
          });
    const answer = this.execute(command, handler);
    this.answers.set(command.id, { name: command.name, fingerprint, answer });
    if (this.answers.size > this.capacity) this.answers.delete(this.answers.keys().next().value as string);
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
