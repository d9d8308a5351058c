/** A run start or end as the engine printed it (`--print-runs`), right after handing the record over. */
export interface RunLine {
  event: 'started' | 'completed' | 'failed';
  runId: string;
  t: number;
  seq: number;
}

/** The engine CLI's start line (`--print-runs`). */
export interface EngineStart {
  engineId: string;
  epoch: string;
  lastSeq: number;
}

/** The engine CLI's progress line (`--progress-ms`). */
export interface EngineProgress {
  lastSeq: number;
  durableSeq?: number;
  acked: number;
  state: string;
}

/** The engine CLI's last line, printed once it has drained (or given up) on SIGTERM. */
export interface EngineFinal {
  engineId: string;
  epoch: string;
  produced: number;
  lastSeq: number;
  acked: number;
  dropped: number;
  backlog: number;
}

export type EngineLine =
  | { type: 'start'; start: EngineStart }
  | { type: 'run'; run: RunLine }
  | { type: 'progress'; progress: EngineProgress }
  | { type: 'final'; final: EngineFinal };

/** Reads one stdout line of `engine-link engine`; undefined for anything else. */
export function parseEngineLine(line: string): EngineLine | undefined {
  if (!line.startsWith('{')) return undefined;
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (value.start) return { type: 'start', start: value.start as EngineStart };
  if (value.run) return { type: 'run', run: value.run as RunLine };
  if (value.progress) return { type: 'progress', progress: value.progress as EngineProgress };
  if (typeof value.engineId === 'string' && typeof value.lastSeq === 'number')
    return { type: 'final', final: value as unknown as EngineFinal };
  return undefined;
}
