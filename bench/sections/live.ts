// 1. Live throughput: engine-link against raw ws (frames of the same size and compact encoding as
// engine-link's), Socket.IO (acks and fire-and-forget) and MQTT.js QoS 1 to aedes, each with its server in
// another process, runs interleaved.
import { availableParallelism } from 'node:os';
import { SYSTEM_LABEL, type SystemName } from '../alternatives/senders.ts';
import { type BenchContext, count, interleaved, ratio, runChild, spread, table } from '../support.ts';

export interface LiveResult {
  perSecond: number;
  sendNsPerRecord: number;
  cpuNsPerRecord: number;
  serverCpuNsPerRecord: number;
}

const SYSTEMS: Array<{ system: SystemName; acked: string }> = [
  { system: 'engine-link', acked: 'persisted in SQLite, then acknowledged' },
  { system: 'raw-ws', acked: 'parsed by the server, count sent back; not stored' },
  { system: 'socketio-ack', acked: 'ack callback per sample; not stored' },
  { system: 'socketio-faf', acked: 'counted by the server; no delivery guarantee' },
  { system: 'mqtt-qos1', acked: 'PUBACK from the broker; not stored' },
];

export async function section(ctx: BenchContext): Promise<string> {
  const big = ctx.quick ? 100_000 : 500_000;
  const small = ctx.quick ? 50_000 : 200_000;
  const size = (s: SystemName) => (s === 'engine-link' || s === 'raw-ws' ? big : small);
  ctx.log(`live throughput: ${count(big)} records (engine-link, raw ws), ${count(small)} (the others)`);
  const results = await interleaved(
    ctx,
    'live',
    SYSTEMS.map(({ system }) => system),
    (system) => runChild<LiveResult>(ctx.scenario('live'), [system, String(size(system))]),
  );
  const median = (s: SystemName) => spread(results.get(s)!.map((r) => r.perSecond))[0];
  const link = median('engine-link');
  ctx.shared.set('live', results);

  const raw = median('raw-ws');
  const ack = median('socketio-ack');
  ctx.stand({
    target: 'live throughput >= 0.8x raw ws (same frames)',
    figure: `${ratio(link, raw)} (${count(link)} vs ${count(raw)} records/s)`,
    met: link >= 0.8 * raw,
  });
  ctx.stand({
    target: 'live throughput >= 3x Socket.IO with acks',
    figure: `${ratio(link, ack)} (${count(link)} vs ${count(ack)} records/s)`,
    met: link >= 3 * ack,
  });
  const cpuOf = (s: SystemName, key: 'cpuNsPerRecord' | 'serverCpuNsPerRecord') =>
    spread(results.get(s)!.map((r) => r[key]))[0];
  const engineNs = cpuOf('engine-link', 'cpuNsPerRecord');
  const serverNs = cpuOf('engine-link', 'serverCpuNsPerRecord');
  const cores = ((engineNs + serverNs) * 0.8 * raw) / 1e9;
  return `${table(
    `Live throughput: engine → acknowledged, server in another process (${ctx.runs} runs, interleaved)`,
    [
      'system',
      'acknowledged when',
      'records',
      'records/s (median)',
      'min – max',
      'engine-link ÷ this',
      'target',
      'engine CPU ns / record',
      'server CPU ns / record',
    ],
    SYSTEMS.map(({ system, acked }) => {
      const [m, range] = spread(results.get(system)!.map((r) => r.perSecond));
      const target = system === 'raw-ws' ? '>= 0.8x' : system === 'socketio-ack' ? '>= 3x' : '';
      return [
        SYSTEM_LABEL[system],
        acked,
        count(size(system)),
        m,
        range,
        ratio(link, m),
        target,
        count(cpuOf(system, 'cpuNsPerRecord')),
        count(cpuOf(system, 'serverCpuNsPerRecord')),
      ];
    }),
  )}
CPU per record: process CPU (user + system, all threads) over the measured run, divided by the records. At 0.8x raw ws (${count(0.8 * raw)} records/s), engine-link's engine and aggregator would need ${cores.toFixed(2)} cores at the CPU per record measured here, on a machine of ${availableParallelism()} cores that also runs the benchmark's own processes.
`;
}
