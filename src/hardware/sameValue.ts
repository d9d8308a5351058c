import type { HardwareValue } from './register.ts';

/**
 * Whether writing `next` where `previous` was written would change nothing: numbers within
 * `tolerance` of each other (absolute difference), anything else strictly equal. NaN is never the same
 * as anything, so writing it always goes through.
 */
export function sameValue(previous: HardwareValue, next: HardwareValue, tolerance: number): boolean {
  if (typeof previous === 'number' && typeof next === 'number') {
    if (Number.isNaN(previous) || Number.isNaN(next)) return false;
    return previous === next || Math.abs(previous - next) <= tolerance;
  }
  return previous === next;
}
