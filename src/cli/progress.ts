import type { Logger } from 'pino';

/** Where the bar is drawn: standard error, or anything shaped like it (tests). */
export interface ProgressOutput {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export interface CatchUpProgressOptions {
  /** The bar goes here when it is a terminal (`isTTY`). Default: standard error. */
  output?: ProgressOutput;
  /** Where plain progress lines go when `output` is not a terminal. */
  log?: Logger;
  now?: () => number;
  /** Least time between two redraws of the bar. Default 100 ms. */
  redrawMs?: number;
  /** Least time between two plain progress lines. Default 1000 ms. */
  lineMs?: number;
}

export interface CatchUpFigures {
  sent: number;
  total: number;
  /** Records per second, over the last few seconds (0 until it can be told). */
  rate: number;
  /** Seconds left at that rate (null until it can be told). */
  secondsLeft: number | null;
}

/** The rate is measured over this much recent time. */
const RATE_WINDOW_MS = 5000;
const BAR_WIDTH = 30;

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatDuration(seconds: number): string {
  if (seconds < 1) return '<1 s';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** `catching up [████████░░░░]  48%  9,600/20,000 records  4,800 rec/s  2 s left` */
export function formatBar(figures: CatchUpFigures, columns = 100): string {
  const { sent, total, rate, secondsLeft } = figures;
  const fraction = total > 0 ? Math.min(1, sent / total) : 1;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const counts = `${integer.format(sent)}/${integer.format(total)} records`;
  const speed = rate > 0 ? `${integer.format(rate)} rec/s` : '… rec/s';
  const left = secondsLeft === null ? '' : `  ${formatDuration(secondsLeft)} left`;
  const tail = `${percent}  ${counts}  ${speed}${left}`;
  const width = Math.max(10, Math.min(BAR_WIDTH, columns - tail.length - 18));
  const filled = Math.round(fraction * width);
  return `catching up [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${tail}`;
}

/**
 * Shows an engine's catch-up (the replay of its backlog after a reconnect): a bar redrawn in place on a
 * terminal, records sent/total, rate and time left; plain structured log lines (at most one a second)
 * when the output is not a terminal. Log lines written while the bar is shown go through
 * `logDestination()`, which clears the bar first and draws it again after.
 */
export class CatchUpProgress {
  private readonly output: ProgressOutput;
  private log: Logger | undefined;
  private readonly now: () => number;
  private readonly redrawMs: number;
  private readonly lineMs: number;
  private readonly terminal: boolean;
  private active = false;
  private startedAt = 0;
  private figures: CatchUpFigures = { sent: 0, total: 0, rate: 0, secondsLeft: null };
  private history: Array<{ at: number; sent: number }> = [];
  private lastDrawAt = Number.NEGATIVE_INFINITY;
  private lastLineAt = Number.NEGATIVE_INFINITY;
  /** The bar is on screen (a line without its newline). */
  private drawn = false;

  constructor(options: CatchUpProgressOptions = {}) {
    this.output = options.output ?? process.stderr;
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.redrawMs = options.redrawMs ?? 100;
    this.lineMs = options.lineMs ?? 1000;
    this.terminal = this.output.isTTY === true;
  }

  /** Whether progress is drawn as a bar (the output is a terminal). */
  get isBar(): boolean {
    return this.terminal;
  }

  /** Sets where plain lines go (the logger may be created after the progress, to write through it). */
  setLog(log: Logger): void {
    this.log = log;
  }

  /** A catch-up moved on (`sent` of `total` records acknowledged); `sent: 0` starts a new one. */
  update(progress: { sent: number; total: number }): void {
    const at = this.now();
    if (!this.active || progress.sent === 0) this.begin(at);
    this.history.push({ at, sent: progress.sent });
    while (this.history.length > 2 && this.history[1]!.at <= at - RATE_WINDOW_MS) this.history.shift();
    const first = this.history[0]!;
    const elapsed = (at - first.at) / 1000;
    const rate = elapsed > 0 ? (progress.sent - first.sent) / elapsed : 0;
    const left = progress.total - progress.sent;
    this.figures = {
      sent: progress.sent,
      total: progress.total,
      rate,
      secondsLeft: rate > 0 ? left / rate : left === 0 ? 0 : null,
    };
    if (progress.sent >= progress.total) {
      this.finish('done');
      return;
    }
    if (this.terminal) {
      if (at - this.lastDrawAt >= this.redrawMs) this.draw(at);
    } else if (at - this.lastLineAt >= this.lineMs) {
      this.lastLineAt = at;
      this.line('catching up');
    }
  }

  /** The catch-up stopped before the end (the link dropped again). */
  interrupted(): void {
    if (this.active) this.finish('interrupted');
  }

  /** A pino destination: log lines clear the bar, are written, and the bar is drawn again. */
  logDestination(): { write(line: string): void } {
    return {
      write: (line: string) => {
        if (this.drawn) this.output.write('\r\x1b[2K');
        this.output.write(line);
        if (this.drawn) this.output.write(this.barText());
      },
    };
  }

  private begin(at: number): void {
    if (this.drawn) this.output.write('\n');
    this.drawn = false;
    this.active = true;
    this.startedAt = at;
    this.history = [];
    this.lastDrawAt = Number.NEGATIVE_INFINITY;
    this.lastLineAt = at;
    if (!this.terminal) this.log?.info({ catchUp: 'started' }, 'catch-up started');
  }

  private finish(outcome: 'done' | 'interrupted'): void {
    const seconds = (this.now() - this.startedAt) / 1000;
    const { sent, total } = this.figures;
    const average = seconds > 0 ? sent / seconds : sent;
    const message =
      outcome === 'done'
        ? `caught up: ${integer.format(total)} records in ${formatDuration(seconds)} (${integer.format(average)} rec/s)`
        : `catch-up interrupted at ${integer.format(sent)}/${integer.format(total)} records: the link dropped`;
    if (this.terminal) {
      this.draw(this.now());
      this.output.write(`\n${message}\n`);
      this.drawn = false;
    } else
      this.log?.info(
        { catchUp: outcome, sent, total, seconds: Math.round(seconds * 10) / 10, rate: Math.round(average) },
        message,
      );
    this.active = false;
    this.history = [];
  }

  private line(message: string): void {
    const { sent, total, rate, secondsLeft } = this.figures;
    const text = `${message}: ${integer.format(sent)}/${integer.format(total)} records, ${integer.format(rate)} rec/s${
      secondsLeft === null ? '' : `, ${formatDuration(secondsLeft)} left`
    }`;
    this.log?.info(
      {
        catchUp: 'progress',
        sent,
        total,
        rate: Math.round(rate),
        secondsLeft: secondsLeft === null ? null : Math.round(secondsLeft),
      },
      text,
    );
  }

  private barText(): string {
    return formatBar(this.figures, this.output.columns ?? 100);
  }

  private draw(at: number): void {
    this.lastDrawAt = at;
    this.output.write(`\r\x1b[2K${this.barText()}`);
    this.drawn = true;
  }
}

/** What the progress needs from a dispatcher: its catch-up progress and link state events. */
interface CatchUpSource {
  on(event: 'flushProgress', listener: (progress: { sent: number; total: number }) => void): unknown;
  on(event: 'state', listener: (state: string) => void): unknown;
}

/** Feeds a dispatcher's catch-ups into `progress`: a catch-up ends when the link leaves `flushing`. */
export function showCatchUp(dispatcher: CatchUpSource, progress: CatchUpProgress): void {
  dispatcher.on('flushProgress', (figures) => progress.update(figures));
  dispatcher.on('state', (state) => {
    if (state !== 'flushing') progress.interrupted();
  });
}
