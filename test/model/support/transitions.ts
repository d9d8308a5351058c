import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition, StateValue } from 'xstate';
import { actionNames, eventName, guardName } from '../../../src/diagrams/names.ts';

/**
 * One transition of a machine definition: one entry of a state node's `on` (or `always`, `after`,
 * `onDone`) array. Guarded alternatives for the same event are separate transitions; `index` is the
 * position in the array, so `connecting:WELCOME#0` is the `hasBacklog` branch and `#1` the fallback.
 *
 * Transitions defined on a compound state or on the machine root (such as engineLink's root-level
 * `STOP`) are listed ONCE, on the node that defines them, and count as covered when they are taken
 * from any of that node's descendant states. Listing them once per atomic state would multiply small
 * machines' transition counts by their number of states for one line of definition; a test that wants
 * "STOP from every state" can ask for it with `{ inherited: 'perState' }`, which lists such a
 * transition once per atomic descendant (id suffixed `@state.path`) and counts each separately.
 */
export interface TransitionInfo {
  /** `source:EVENT#index`, plus `@state.path` for a per-state copy of an inherited transition. */
  readonly id: string;
  /** Dotted path of the state node that defines it; `#machineId` for the machine root. */
  readonly source: string;
  /** The event descriptor as written (`''` for an eventless `always` transition). */
  readonly event: string;
  /** Readable event name (`always`, `after 500ms`, `done`, or the descriptor). */
  readonly eventLabel: string;
  /** Position among the alternatives for this event on this state node. */
  readonly index: number;
  readonly guard?: string;
  /** Dotted paths of the target state nodes; empty for a targetless (actions-only) transition. */
  readonly targets: readonly string[];
  readonly actions: readonly string[];
  readonly reenter: boolean;
  /** No target, no actions, no reentry: the event is explicitly ignored. XState's traversal never tries it. */
  readonly forbidden: boolean;
  /** With `inherited: 'perState'`: the atomic state this copy of an ancestor's transition is taken from. */
  readonly fromState?: string;
  /** The definition object inside the machine: the identity used to recognise the transition when taken. */
  readonly definition: AnyTransitionDefinition;
}

export interface ListTransitionsOptions {
  /** How to count transitions defined on compound states and the root. Default `'once'`. */
  readonly inherited?: 'once' | 'perState';
}

/** Dotted path of a state node relative to its machine; `#machineId` for the root. */
export function nodePath(node: AnyStateNode): string {
  return node.path.length === 0 ? `#${node.machine.id}` : node.path.join('.');
}

/**
 * A state value as a dotted string: `'connecting'`, `'buffering.waiting'`; parallel regions are
 * joined with `, ` in definition order (`'a.x, b.y'`); an empty compound value gives its key alone.
 */
export function stateToString(value: StateValue): string {
  if (typeof value === 'string') return value;
  const parts: string[] = [];
  for (const [key, sub] of Object.entries(value)) {
    if (sub === undefined) continue;
    const inner = stateToString(sub as StateValue);
    if (inner === '') {
      parts.push(key);
      continue;
    }
    // Each region of a parallel child state may itself expand to several parts.
    for (const part of inner.split(', ')) parts.push(`${key}.${part}`);
  }
  return parts.join(', ');
}

/** Every state node below `node` (not `node` itself), depth first, in definition order. */
export function descendants(node: AnyStateNode): AnyStateNode[] {
  const out: AnyStateNode[] = [];
  for (const child of Object.values(node.states) as AnyStateNode[]) {
    out.push(child, ...descendants(child));
  }
  return out;
}

/** The transitions a node defines, grouped by descriptor, `always` last. */
export function ownTransitionGroups(node: AnyStateNode): Array<[string, AnyTransitionDefinition[]]> {
  const groups: Array<[string, AnyTransitionDefinition[]]> = [...node.transitions.entries()];
  if (node.always && node.always.length > 0) groups.push(['', node.always]);
  return groups;
}

function isAtomic(node: AnyStateNode): boolean {
  return node.type === 'atomic' || node.type === 'final';
}

/**
 * The atomic states from which a transition defined on `node` can be taken. Excluded: a final child of
 * the root (reaching it ends the machine, which then takes no event), transient states (left at
 * once by an unguarded `always` transition, so never at rest when an event arrives), and states that
 * take the same event themselves without a guard (the ancestor's transition can never win there).
 */
function atomicDescendants(node: AnyStateNode, descriptor: string): AnyStateNode[] {
  return descendants(node).filter(
    (n) =>
      isAtomic(n) &&
      !(n.type === 'final' && n.parent !== undefined && n.parent.parent === undefined) &&
      !unguarded(n.always).length &&
      !shadowed(n, node, descriptor),
  );
}

function unguarded(group: readonly AnyTransitionDefinition[] | undefined): AnyTransitionDefinition[] {
  return (group ?? []).filter((t) => t.guard === undefined);
}

/** True when `state` or a node between it and `ancestor` takes `descriptor` itself, unguarded. */
function shadowed(state: AnyStateNode, ancestor: AnyStateNode, descriptor: string): boolean {
  for (let n: AnyStateNode | undefined = state; n && n !== ancestor; n = n.parent) {
    if (unguarded(descriptor === '' ? n.always : n.transitions.get(descriptor)).length > 0) return true;
  }
  return false;
}

/**
 * Every transition of a machine definition, in document order: state nodes depth first (the root
 * last), each node's events in the order written, each event's alternatives in order.
 */
export function listTransitions(
  machine: AnyStateMachine,
  options: ListTransitionsOptions = {},
): TransitionInfo[] {
  const perState = options.inherited === 'perState';
  const out: TransitionInfo[] = [];
  // The root's transitions last, as they are usually written after `states` (and drawn last).
  for (const node of [...descendants(machine.root as AnyStateNode), machine.root as AnyStateNode]) {
    const source = nodePath(node);
    for (const [descriptor, group] of ownTransitionGroups(node)) {
      group.forEach((definition, index) => {
        const actions = actionNames(definition.actions);
        const base = {
          source,
          event: descriptor,
          eventLabel: eventName(descriptor),
          index,
          ...(definition.guard === undefined ? {} : { guard: guardName(definition.guard) }),
          targets: (definition.target ?? []).map((t: AnyStateNode) => nodePath(t)),
          actions,
          reenter: definition.reenter,
          forbidden: !definition.target && actions.length === 0 && !definition.reenter,
          definition,
        };
        const id = `${source}:${descriptor === '' ? 'always' : descriptor}#${index}`;
        if (perState && !isAtomic(node)) {
          for (const state of atomicDescendants(node, descriptor)) {
            const fromState = nodePath(state);
            out.push({ ...base, id: `${id}@${fromState}`, fromState });
          }
        } else {
          out.push({ ...base, id });
        }
      });
    }
  }
  return out;
}

/**
 * The id of a transition definition as listed by `listTransitions`, taken from an atomic state
 * `fromState` (only used with `inherited: 'perState'` for transitions defined above atomic states).
 */
export function transitionId(
  definition: AnyTransitionDefinition,
  options: ListTransitionsOptions = {},
  fromState?: AnyStateNode,
): string {
  const source: AnyStateNode = definition.source;
  const descriptor = definition.eventType;
  const group =
    descriptor === ''
      ? (source.always ?? [])
      : (source.transitions.get(descriptor) ?? ([] as AnyTransitionDefinition[]));
  const index = group.indexOf(definition);
  if (index < 0) {
    throw new Error(`transition for '${descriptor}' is not one of ${nodePath(source)}'s definitions`);
  }
  const id = `${nodePath(source)}:${descriptor === '' ? 'always' : descriptor}#${index}`;
  if (options.inherited === 'perState' && !isAtomic(source) && fromState)
    return `${id}@${nodePath(fromState)}`;
  return id;
}
