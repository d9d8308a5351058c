/**
 * The first index in [from, to) whose key is above `value`, in keys sorted ascending (`to` when there is
 * none): a binary search. The outboxes find their chunks, segments and index entries with it.
 */
export function firstAbove(
  from: number,
  to: number,
  keyAt: (index: number) => number,
  value: number,
): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keyAt(mid) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
