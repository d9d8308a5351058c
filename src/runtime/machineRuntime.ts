import {
  type Actor,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type ContextFrom,
  createActor,
  type EventFromLogic,
  type InspectionEvent,
  type SnapshotFrom,
} from 'xstate';
import { stateName } from '../../machines/stateName.ts';
import type { Clock } from '../time/clock.ts';
import { NamedTimers } from '../time/namedTimers.ts';

/** The implementations a runtime gives a machine's named actions (`machine.provide({ actions })`). */
export type ProvidedActions<M extends AnyStateMachine> = NonNullable<Parameters<M['provide']>[0]['actions']>;

export interface MachineRuntimeOptions<M extends AnyStateMachine, Timer extends string> {
  clock: Clock;
  /**
   * The effects: every action the machine names, carried out by the runtime. Called once, before the
   * actor is made, with the runtime itself (to dispatch events, start timers, queue notices).
   */
  actions: (runtime: MachineRuntime<M, Timer>) => ProvidedActions<M>;
  /**
   * Told of each change of state (as a dotted path, 'buffering.waiting'), once the transition is complete
   * and before the notices its actions queued. `previous` is undefined for the first state.
   */
  onState?: (state: string, previous: string | undefined) => void;
  /** Receives the actor's inspection events (Stately inspector). */
  inspect?: (event: InspectionEvent) => void;
  /** Start from this state (one restored from a store) instead of the machine's initial state. */
  snapshot?: SnapshotFrom<M>;
}

/**
 * The one way engine-link runs a machine. The machine (machines/) decides; the runtime (src/) acts:
 *
 * - `dispatch(event)` is the only way in: an event from I/O, a timer or the runtime's own code.
 * - Effects are the machine's named actions, provided by the runtime (`actions`).
 * - Time is named timers on the injected clock (`startTimer`, `cancelTimer`): a timer dispatches an event,
 *   or runs a callback that does.
 * - What is said about a transition (events to listeners, other components told) waits until the
 *   transition is complete: `onState` first, then what the actions queued with `afterTransition`, in
 *   order. A listener that dispatches again queues its notices behind those.
 */
export class MachineRuntime<M extends AnyStateMachine, Timer extends string = string> {
  private readonly actor: Actor<AnyStateMachine>;
  private readonly timers: NamedTimers<Timer>;
  private readonly onState: MachineRuntimeOptions<M, Timer>['onState'];
  private currentState: string | undefined;
  /** Notices queued by actions during the transition under way. */
  private pending: Array<() => void> = [];
  /** Notices of complete transitions, not yet run. */
  private readonly notices: Array<() => void> = [];
  private announcing = false;
  /** Whether the error of the action that stopped the actor has been thrown. */
  private failureThrown = false;

  constructor(machine: M, options: MachineRuntimeOptions<M, Timer>) {
    this.timers = new NamedTimers(options.clock);
    this.onState = options.onState;
    const provided: AnyStateMachine = machine.provide({ actions: options.actions(this) });
    this.actor = createActor(provided, {
      inspect: options.inspect,
      snapshot: options.snapshot as AnyMachineSnapshot | undefined,
    });
    // An action that throws stops the actor; the dispatch (or start) that ran it throws the error instead
    // of the actor reporting it as unhandled.
    this.actor.subscribe({ next: (snapshot) => this.observe(snapshot), error: () => {} });
  }

  /** The machine's state as a dotted path ('buffering.waiting'), as of the last complete transition. */
  get state(): string {
    return this.currentState ?? stateName(this.actor.getSnapshot().value);
  }

  get context(): ContextFrom<M> {
    return this.actor.getSnapshot().context;
  }

  /** Whether the actor is running (started, not stopped, not in a final state). */
  get running(): boolean {
    return this.actor.getSnapshot().status === 'active';
  }

  /** Starts the actor (its initial entry actions run), then runs the notices. */
  start(): void {
    this.actor.start();
    this.failed();
    this.announce();
  }

  /**
   * Sends `event` to the machine, then runs the notices of the transitions it caused. If one of its
   * actions throws, the actor stops, its timers are cancelled, nothing is announced and the error is
   * thrown here (a run ledger's transaction that could not save a run is taken back).
   */
  dispatch(event: EventFromLogic<M>): void {
    this.actor.send(event);
    this.failed();
    this.announce();
  }

  /** For an action: runs `notice` once the transition under way is complete. */
  afterTransition(notice: () => void): void {
    this.pending.push(notice);
  }

  /** Dispatches `event` (or runs `callback`) `ms` from now, under `name`, replacing a timer of that name. */
  startTimer(name: Timer, ms: number, then: EventFromLogic<M> | (() => void)): void {
    this.timers.start(name, ms, typeof then === 'function' ? then : () => this.dispatch(then));
  }

  cancelTimer(name: Timer): void {
    this.timers.cancel(name);
  }

  cancelTimers(): void {
    this.timers.cancelAll();
  }

  /** Stops the actor and every timer; nothing more happens. */
  stop(): void {
    this.timers.cancelAll();
    this.actor.stop();
  }

  /** Throws the error of an action that stopped the actor just now (once: a stopped actor ignores events). */
  private failed(): void {
    const snapshot = this.actor.getSnapshot();
    if (snapshot.status !== 'error' || this.failureThrown) return;
    this.failureThrown = true;
    this.timers.cancelAll();
    this.pending = [];
    this.notices.length = 0;
    throw snapshot.error;
  }

  private observe(snapshot: AnyMachineSnapshot): void {
    const next = stateName(snapshot.value);
    const previous = this.currentState;
    this.currentState = next;
    if (next !== previous && this.onState) {
      const onState = this.onState;
      this.notices.push(() => onState(next, previous));
    }
    this.notices.push(...this.pending);
    this.pending = [];
  }

  /** Runs queued notices in order; one that dispatches again queues behind them. */
  private announce(): void {
    if (this.announcing) return;
    this.announcing = true;
    try {
      for (let notice = this.notices.shift(); notice; notice = this.notices.shift()) notice();
    } finally {
      this.announcing = false;
    }
  }
}
