/** What one simulation run is asked to do. Every default is here. */
export interface SimulationOptions {
  /** The seed: everything drawn in the run comes from it. */
  seed: number;
  /** Steps before the quiet phase (one step: a delivery, a commit, a connect, a move of time, or an action). */
  steps: number;
  /** Simulated hours before the quiet phase instead of a step count (`--hours`); 0: use `steps`. */
  hours: number;
  /** Engines (even ones durable, odd ones memory; every third starts runs only by command). */
  engines: number;
  /** The chance, per step, of a drawn action (a fault, a crash, an operator's command or write). */
  actionRate: number;
  /** How long a run may stay unconfirmed before the aggregator interrupts it (the simulation's value). */
  abandonAfterMs: number;
  /** Leave this share of the engines dead through the quiet phase (their runs must be settled). */
  leaveDownShare: number;
  /** Told every this many steps, for progress on long runs (0: never). */
  progressEverySteps: number;
}

export const SIMULATION_DEFAULTS: SimulationOptions = {
  seed: 1,
  steps: 20_000,
  hours: 0,
  engines: 4,
  actionRate: 0.02,
  abandonAfterMs: 120_000,
  leaveDownShare: 0.25,
  progressEverySteps: 0,
};
