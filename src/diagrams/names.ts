/**
 * Human-readable names for the parts of an XState v5 machine definition: events, guards and actions.
 * Shared by the Mermaid generator and the model-test tooling so that both speak of a transition the
 * same way.
 */

/** A guard as it appears in a transition definition (string, `{ type, params }`, function, built-in). */
type GuardLike = unknown;
/** An action as it appears in `entry`, `exit` or a transition's `actions`. */
type ActionLike = unknown;

function functionName(fn: { name?: string }): string {
  return fn.name && fn.name.length > 0 ? fn.name : 'anonymous';
}

/**
 * The name of a guard: `'hasBacklog'` for `'hasBacklog'` and `{ type: 'hasBacklog' }`, `and(a, b)`,
 * `or(a, b)` and `not(a)` for the built-in combinators, `stateIn(...)` for `stateIn`, and the function
 * name (or `anonymous`) for an inline function.
 */
export function guardName(guard: GuardLike): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const fn = guard as { name?: string; guards?: unknown[]; stateValue?: unknown };
    if (Array.isArray(fn.guards) && (fn.name === 'and' || fn.name === 'or' || fn.name === 'not')) {
      return `${fn.name}(${fn.guards.map(guardName).join(', ')})`;
    }
    if (fn.name === 'stateIn' && fn.stateValue !== undefined) {
      return `stateIn(${typeof fn.stateValue === 'string' ? fn.stateValue : JSON.stringify(fn.stateValue)})`;
    }
    return functionName(fn);
  }
  if (guard && typeof guard === 'object' && 'type' in guard) return String((guard as { type: unknown }).type);
  return String(guard);
}

/**
 * The name of an action: the string itself, the `type` of a `{ type, params }` object, `assign`,
 * `raise`, `sendTo`... for the built-in action creators (whose `type` is `xstate.<name>`), or the
 * function name (`anonymous` when it has none) for an inline function.
 */
export function actionName(action: ActionLike): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') {
    const fn = action as { name?: string; type?: unknown };
    if (typeof fn.type === 'string' && fn.type.startsWith('xstate.')) return fn.type.slice('xstate.'.length);
    return functionName(fn);
  }
  if (action && typeof action === 'object' && 'type' in action)
    return String((action as { type: unknown }).type);
  return String(action);
}

/** The names of a list of actions (a single action or undefined are accepted too). */
export function actionNames(actions: ActionLike): string[] {
  if (actions === undefined || actions === null) return [];
  return (Array.isArray(actions) ? actions : [actions]).map(actionName);
}

/**
 * A readable name for an event descriptor: `always` for eventless transitions, `after 500ms` for
 * delayed ones, `done` / `done: <actor>` / `error: <actor>` for completion events; other descriptors
 * (including wildcards such as `*` or `user.*`) are shown as written.
 */
export function eventName(descriptor: string): string {
  if (descriptor === '') return 'always';
  const after = /^xstate\.after\.(\d+)\./.exec(descriptor);
  if (after) return `after ${after[1]}ms`;
  if (descriptor.startsWith('xstate.after.')) return `after ${descriptor.slice('xstate.after.'.length)}`;
  if (descriptor.startsWith('xstate.done.state.')) return 'done';
  if (descriptor.startsWith('xstate.done.actor.'))
    return `done: ${descriptor.slice('xstate.done.actor.'.length)}`;
  if (descriptor.startsWith('xstate.error.actor.')) {
    return `error: ${descriptor.slice('xstate.error.actor.'.length)}`;
  }
  return descriptor;
}
