import type {
  AnyActorRef,
  AnyMachineSnapshot,
  AnyStateMachine,
  AnyTransitionDefinition,
  EventObject,
  InspectionEvent,
} from 'xstate';
import { takenTransitionIds } from './coverage.ts';
import type { ListTransitionsOptions } from './transitions.ts';

/** An action a runtime's actor executed, with its resolved params. */
export interface ExecutedAction {
  readonly type: string;
  readonly params: unknown;
}

/** What the runtime's actors did since the last `take()`. */
export interface Observed {
  /** Ids (as in `listTransitions`) of the transitions taken, in order. */
  readonly transitions: readonly string[];
  readonly actions: readonly ExecutedAction[];
}

/**
 * Watches a runtime's own actors through the `inspect` option every runtime takes, and records the
 * transitions they take and the actions they execute. Only actors running `machine` (by id) count: the
 * aggregator's inspect hook also carries the other machine's actors.
 *
 * This is what the model tests compare with the paths, step by step: coverage is what the runtime did,
 * not what the machine would do.
 */
export class RuntimeRecorder {
  /** Every transition id the runtime took, with how many times, since the recorder was made. */
  readonly taken = new Map<string, number>();
  private transitions: string[] = [];
  private actions: ExecutedAction[] = [];
  private readonly before = new Map<AnyActorRef, AnyMachineSnapshot>();
  private latest: AnyActorRef | undefined;

  constructor(
    private readonly machine: AnyStateMachine,
    private readonly options: ListTransitionsOptions = {},
  ) {}

  /** Pass as the runtime's `inspect` option. */
  readonly inspect = (event: InspectionEvent): void => {
    const actor = event.actorRef as AnyActorRef;
    if (logicOf(actor)?.id !== this.machine.id) return;
    switch (event.type) {
      case '@xstate.actor':
        this.latest = actor;
        break;
      case '@xstate.snapshot':
        this.before.set(actor, event.snapshot as AnyMachineSnapshot);
        break;
      case '@xstate.action':
        this.actions.push({ type: event.action.type, params: event.action.params });
        break;
      case '@xstate.microstep': {
        const taken = (event as unknown as { _transitions: AnyTransitionDefinition[] })._transitions;
        for (const t of taken) {
          for (const id of takenTransitionIds(t, this.before.get(actor), this.options)) {
            this.transitions.push(id);
            this.taken.set(id, (this.taken.get(id) ?? 0) + 1);
          }
        }
        this.before.set(actor, event.snapshot as AnyMachineSnapshot);
        break;
      }
    }
  };

  /** What happened since the last call. */
  take(): Observed {
    const observed = { transitions: this.transitions, actions: this.actions };
    this.transitions = [];
    this.actions = [];
    return observed;
  }

  /** Whether an actor of the machine has started in the runtime. */
  get started(): boolean {
    return this.latest !== undefined;
  }

  /** The runtime's newest actor for the machine (the one a negative step is sent to when it cannot be caused). */
  get actor(): AnyActorRef {
    if (!this.latest) throw new Error(`no ${this.machine.id} actor has started in this runtime`);
    return this.latest;
  }

  /** The machine the runtime actually runs: its `provide()`d copy, with the runtime's actions. */
  get runtimeMachine(): AnyStateMachine {
    return logicOf(this.actor) as AnyStateMachine;
  }

  /** Sends `event` straight to the runtime's actor (for an event the runtime cannot be made to cause). */
  inject(event: EventObject): void {
    this.actor.send(event);
  }
}

/** The logic an actor runs (a machine, for the runtimes' actors). */
function logicOf(actor: AnyActorRef): Partial<AnyStateMachine> | undefined {
  return (actor as AnyActorRef & { logic?: Partial<AnyStateMachine> }).logic;
}
