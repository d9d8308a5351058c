// Where a bench server's CPU time goes, by stage of the ingest path: each sample of a V8 CPU profile is
// charged to the nearest engine-link function on its stack (a native or library function counts for the
// engine-link code that called it: JSON.parse under the codec is decoding, a SQLite step under the store
// is the store), or, with none on the stack, to the library it is in (ws reading frames, sockets writing).
// Usage: npx tsx bench/profiling/stages.ts FILE.cpuprofile [--frames N] [--records N] [--detail STAGE]
// (frames and records default to FILE.cpuprofile.counts.json, written by WindowProfile).
import { existsSync, readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Stages in the order they are printed. */
export const STAGES = [
  'ws (reading and framing)',
  'checksum',
  'decode (JSON)',
  'validation',
  'session and machine',
  'store',
  'run ledger',
  'ack',
  'heartbeat',
  'telemetry (events, dashboard, metrics)',
  'socket writes (flushed later)',
  'logging',
  'other engine-link',
  'other (node, libraries)',
  'garbage collector',
  'profiler',
  'idle',
] as const;

/** Not the server's work: left out of the busy time. */
const NOT_BUSY: ReadonlySet<Stage> = new Set(['idle', 'profiler']);

export type Stage = (typeof STAGES)[number];

/** The stage of an engine-link source file (path under src/), or undefined for any other file. */
function sourceStage(url: string, functionName: string): Stage | undefined {
  const at = url.lastIndexOf('/src/');
  if (at < 0) return undefined;
  const path = url.slice(at + '/src/'.length);
  if (path === 'protocol/codec.ts') return 'decode (JSON)';
  if (path.startsWith('protocol/')) return 'validation';
  if (
    path === 'aggregator/session/linkConnection.ts' &&
    (functionName === 'acknowledge' || functionName === 'flushAck')
  )
    return 'ack';
  if (path === 'aggregator/session/pinger.ts' || path === 'time/silenceWatchdog.ts') return 'heartbeat';
  if (path.startsWith('aggregator/session/') || path.startsWith('runtime/') || path.includes('machines/'))
    return 'session and machine';
  if (path.startsWith('aggregator/store/')) return 'store';
  if (path.startsWith('aggregator/runs/')) return 'run ledger';
  if (
    path.startsWith('aggregator/http/') ||
    path.startsWith('dashboard/') ||
    path === 'aggregator/aggregatorMetrics.ts'
  )
    return 'telemetry (events, dashboard, metrics)';
  return 'other engine-link';
}

/** The stage of a stack with no engine-link function on it, by the library its innermost frame is in. */
function libraryStage(stack: ProfileNode[]): Stage {
  for (const node of stack) {
    const { url, functionName } = node.callFrame;
    if (url.includes('/node_modules/ws/')) return 'ws (reading and framing)';
    if (url.includes('/node_modules/better-sqlite3/') || url.includes('/node_modules/postgres/'))
      return 'store';
    if (url.includes('/node_modules/xstate/')) return 'session and machine';
    if (url.includes('/node_modules/pino') || url.includes('/node_modules/sonic-boom/')) return 'logging';
    if (functionName === 'writev' || functionName === 'writeBuffer' || functionName === 'writeUtf8String')
      return 'socket writes (flushed later)';
  }
  return 'other (node, libraries)';
}

/**
 * Self time (µs) of the profile by stage; `detail`, when given, is told each sample's stage, innermost
 * function and time (for a breakdown of one stage).
 */
export function stageTimes(
  profile: CpuProfile,
  detail?: (stage: Stage, leaf: string, us: number) => void,
): Map<Stage, number> {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const stageOf = new Map<number, Stage>();
  const classify = (id: number): Stage => {
    const known = stageOf.get(id);
    if (known) return known;
    const leaf = byId.get(id)!;
    let stage: Stage | undefined;
    if (leaf.callFrame.functionName === '(idle)') stage = 'idle';
    else if (leaf.callFrame.functionName === '(garbage collector)') stage = 'garbage collector';
    else {
      const stack: ProfileNode[] = [];
      // The transports pass what they carry through: a write they do counts for whoever asked for it (an
      // ack, a ping), and for the WebSocket only when nobody did.
      let throughTransport = false;
      for (let at: number | undefined = id; at !== undefined && !stage; at = parent.get(at)) {
        const node = byId.get(at)!;
        const { url, functionName } = node.callFrame;
        stack.push(node);
        // The CRC is zlib's, called by the codec: it counts as the checksum, not as decoding.
        if (functionName === 'crc32') stage = 'checksum';
        else if (url.includes('/bench/profiling/')) stage = 'profiler';
        else if (url.includes('/src/transport/')) throughTransport = true;
        else stage = sourceStage(url, functionName);
      }
      stage ??= throughTransport ? 'ws (reading and framing)' : libraryStage(stack);
    }
    stageOf.set(id, stage);
    return stage;
  };
  const times = new Map<Stage, number>(STAGES.map((s) => [s, 0]));
  profile.samples.forEach((id, i) => {
    const stage = classify(id);
    const us = profile.timeDeltas[i] ?? 0;
    times.set(stage, times.get(stage)! + us);
    if (detail) {
      const { functionName, url } = byId.get(id)!.callFrame;
      detail(stage, `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}`, us);
    }
  });
  return times;
}

/** A Markdown table: each stage's share of the busy time, and µs per frame and per record. */
export function stageTable(times: Map<Stage, number>, counts: { frames?: number; records?: number }): string {
  const busy = [...times].filter(([s]) => !NOT_BUSY.has(s)).reduce((sum, [, t]) => sum + t, 0);
  const per = (t: number, n: number | undefined) => (n ? (t / n).toFixed(2) : '');
  const rows = STAGES.filter((s) => !NOT_BUSY.has(s) && times.get(s)! > 0).map((s) => {
    const t = times.get(s)!;
    return `| ${s} | ${(t / 1000).toFixed(0)} | ${((100 * t) / busy).toFixed(1)} % | ${per(t, counts.frames)} | ${per(t, counts.records)} |`;
  });
  return [
    '| stage | CPU ms | share of busy | µs per frame | µs per record |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows,
    `| **all (busy)** | ${(busy / 1000).toFixed(0)} | 100 % | ${per(busy, counts.frames)} | ${per(busy, counts.records)} |`,
    `| idle | ${(times.get('idle')! / 1000).toFixed(0)} | | | |`,
    `| profiler (left out) | ${(times.get('profiler')! / 1000).toFixed(0)} | | | |`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, ...rest] = process.argv.slice(2);
  if (!file || file.startsWith('--'))
    throw new Error('usage: stages.ts FILE.cpuprofile [--frames N] [--records N] [--detail STAGE]');
  const option = (name: string) => {
    const at = rest.indexOf(name);
    return at < 0 ? undefined : Number(rest[at + 1]);
  };
  const saved = existsSync(`${file}.counts.json`)
    ? (JSON.parse(readFileSync(`${file}.counts.json`, 'utf8')) as { frames?: number; records?: number })
    : {};
  const counts = {
    frames: option('--frames') ?? saved.frames,
    records: option('--records') ?? saved.records,
  };
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const detailAt = rest.indexOf('--detail');
  const wanted = detailAt < 0 ? undefined : rest[detailAt + 1];
  const leaves = new Map<string, number>();
  const times = stageTimes(profile, (stage, leaf, us) => {
    if (wanted && stage.startsWith(wanted)) leaves.set(leaf, (leaves.get(leaf) ?? 0) + us);
  });
  process.stdout.write(`${stageTable(times, counts)}\n`);
  for (const [leaf, us] of [...leaves].sort((a, b) => b[1] - a[1]).slice(0, 15))
    process.stdout.write(`${(us / 1000).toFixed(0).padStart(7)} ms  ${leaf}\n`);
}
