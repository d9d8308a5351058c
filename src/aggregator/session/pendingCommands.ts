import { commandFingerprint, ID_REUSED, idReusedMessage } from '../../protocol/commandIdentity.ts';
import type { CommandResult } from '../../protocol/messages.ts';
import type { Clock, TimerHandle } from '../../time/clock.ts';

/** How a command sent to an engine ended, as far as the aggregator can tell. */
export type CommandOutcome =
  | { status: 'ok'; id: string; result: unknown }
  /** The engine ran it (or refused it) and said it failed. */
  | { status: 'failed'; id: string; code: string; message: string }
  /** No answer within the command timeout; the link stays up, the engine may still run it. */
  | { status: 'timeout'; id: string; timeoutMs: number }
  /** The link died before the answer: ask again with the same id, the engine runs an id at most once. */
  | { status: 'outcome-unknown'; id: string; reason: string };

interface Pending {
  readonly name: string;
  readonly fingerprint: string;
  readonly promise: Promise<CommandOutcome>;
  readonly resolve: (outcome: CommandOutcome) => void;
  readonly timer: TimerHandle;
}

/** Commands sent to one engine and not answered yet, by id. */
export class PendingCommands {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /**
   * Sends a command once per id: a second request for an id still waiting shares the first's outcome,
   * when it is the same command (name and arguments); a different command under that id fails at once
   * with `id-reused` and is not sent. `send` returns false when the frame could not be written (the link
   * is gone).
   */
  start(id: string, command: { name: string; args?: unknown }, send: () => boolean): Promise<CommandOutcome> {
    const fingerprint = commandFingerprint(command.name, command.args);
    const existing = this.pending.get(id);
    if (existing)
      return existing.fingerprint === fingerprint
        ? existing.promise
        : Promise.resolve({
            status: 'failed',
            id,
            code: ID_REUSED,
            message: idReusedMessage(id, existing.name, command.name),
          });
    let resolve!: (outcome: CommandOutcome) => void;
    const promise = new Promise<CommandOutcome>((r) => {
      resolve = r;
    });
    const timer = this.clock.setTimeout(
      () => this.finish(id, { status: 'timeout', id, timeoutMs: this.timeoutMs }),
      this.timeoutMs,
    );
    this.pending.set(id, { name: command.name, fingerprint, promise, resolve, timer });
    if (!send())
      this.finish(id, { status: 'outcome-unknown', id, reason: 'the link closed before the command left' });
    return promise;
  }

  /** An answer from the engine; answers to ids nobody waits for are ignored (returns false). */
  settle(result: CommandResult): boolean {
    if (!this.pending.has(result.id)) return false;
    this.finish(
      result.id,
      result.ok
        ? { status: 'ok', id: result.id, result: result.result ?? null }
        : {
            status: 'failed',
            id: result.id,
            code: result.error?.code ?? 'command-failed',
            message: result.error?.message ?? 'the engine reported a failure',
          },
    );
    return true;
  }

  /** The link is gone: every waiting command's outcome is unknown. */
  failAll(reason: string): void {
    for (const id of [...this.pending.keys()]) this.finish(id, { status: 'outcome-unknown', id, reason });
  }

  private finish(id: string, outcome: CommandOutcome): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    pending.timer.cancel();
    pending.resolve(outcome);
  }
}
