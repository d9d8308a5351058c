import type { StateValue } from 'xstate';

/** A machine state value as one dotted path: `{ buffering: 'waiting' }` becomes 'buffering.waiting'. */
export function stateName(value: StateValue): string {
  if (typeof value === 'string') return value;
  // A compound state's value always names its active child.
  const [key, child] = Object.entries(value)[0]!;
  return `${key}.${stateName(child!)}`;
}
