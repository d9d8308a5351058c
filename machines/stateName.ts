import type { StateValue } from 'xstate';

/** A machine state value as one dotted path: `{ buffering: 'waiting' }` becomes 'buffering.waiting'. */
export function stateName(value: StateValue): string {
  if (typeof value === 'string') return value;
  const [key, child] = Object.entries(value)[0] ?? ['?', undefined];
  return child === undefined ? key : `${key}.${stateName(child)}`;
}
