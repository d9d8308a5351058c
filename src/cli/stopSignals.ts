const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
type StopSignal = (typeof SIGNALS)[number];
const SIGNAL_NUMBER: Record<StopSignal, number> = { SIGINT: 2, SIGTERM: 15 };

/**
 * SIGINT and SIGTERM for a command that stops in steps. The first asks for a clean stop (`first`
 * resolves); a second asks to hurry (`second` resolves: the command cuts its waiting short, says so, and
 * still finishes what cannot be skipped, such as saying goodbye); a third exits at once, saying so, with
 * the status a signal gives (128 + its number). Nothing is ever skipped silently. From the first signal
 * until `dispose()` the process is held, so that a stop waiting on nothing but timers (a drain while the
 * link is down) is carried out rather than cut off by an empty event loop.
 */
export class StopSignals {
  readonly first: Promise<StopSignal>;
  readonly second: Promise<StopSignal>;
  private count = 0;
  private holding: NodeJS.Timeout | undefined;
  private resolveFirst!: (signal: StopSignal) => void;
  private resolveSecond!: (signal: StopSignal) => void;

  constructor(
    /** Told of the second and third signal, with what happens now. */
    private readonly say: (line: string) => void,
    private readonly hurryMeans = 'not waiting any longer',
  ) {
    this.first = new Promise((resolve) => {
      this.resolveFirst = resolve;
    });
    this.second = new Promise((resolve) => {
      this.resolveSecond = resolve;
    });
    for (const signal of SIGNALS) process.on(signal, this.onSignal);
  }

  /** Stops listening (the command is done). */
  dispose(): void {
    for (const signal of SIGNALS) process.off(signal, this.onSignal);
    clearInterval(this.holding);
  }

  private readonly onSignal = (signal: StopSignal): void => {
    this.count++;
    if (this.count === 1) {
      this.holding = setInterval(() => {}, 60_000);
      this.resolveFirst(signal);
    } else if (this.count === 2) {
      this.say(`${signal} again: ${this.hurryMeans}; a third signal exits at once`);
      this.resolveSecond(signal);
    } else {
      this.say(`${signal} a third time: exiting now, without finishing the stop`);
      process.exit(128 + SIGNAL_NUMBER[signal]);
    }
  };
}
