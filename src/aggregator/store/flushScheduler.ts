/** Schedules a flush; returns how to cancel it. */
export type FlushScheduler = (flush: () => void) => () => void;

/** After the current turn of the event loop: everything read from the sockets in this turn joins. */
export const nextTurn: FlushScheduler = (flush) => {
  const immediate = setImmediate(flush);
  return () => clearImmediate(immediate);
};
