// 5. Fan-in: 100 and 1,000 engines at 10 samples/s into one server process; its CPU and the ingest
// latency from engine time stamp to committed in SQLite. The alternatives' servers store into the same
// schema (group commit per event-loop turn) so that they do the same work.
import { SYSTEM_LABEL, type SystemName } from '../alternatives/senders.ts';
import { type BenchContext, count, interleaved, runChild, spread, table } from '../support.ts';

interface FanInResult {
  cpuPercent: number;
  eventLoopUtilization: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
}

const SYSTEMS: SystemName[] = ['engine-link', 'socketio-ack', 'mqtt-qos1'];
const ENGINES = [100, 1000];

export async function section(ctx: BenchContext): Promise<string> {
  const seconds = ctx.quick ? 4 : 6;
  ctx.log(`fan-in: ${ENGINES.join(' and ')} engines at 10 samples/s, ${seconds} s windows`);
  const cases = new Map(
    ENGINES.flatMap((engines) =>
      SYSTEMS.map((system) => [`${system}/${engines}`, { system, engines }] as const),
    ),
  );
  const results = await interleaved(ctx, 'fan-in', [...cases.keys()], (key) => {
    const { system, engines } = cases.get(key)!;
    return runChild<FanInResult>(ctx.scenario('fanIn'), [system, String(engines), String(seconds)]);
  });
  const rows = ENGINES.flatMap((engines) =>
    SYSTEMS.map((system) => {
      const r = results.get(`${system}/${engines}`)!;
      const [rate] = spread(r.map((x) => x.perSecond));
      const [cpu, cpuRange] = spread(
        r.map((x) => x.cpuPercent),
        0,
      );
      const [elu] = spread(r.map((x) => x.eventLoopUtilization));
      const [p50, p50Range] = spread(
        r.map((x) => x.p50),
        1,
      );
      const [p99, p99Range] = spread(
        r.map((x) => x.p99),
        1,
      );
      return [
        SYSTEM_LABEL[system],
        count(engines),
        `${count(rate)} of ${count(engines * 10)}`,
        `${cpu.toFixed(0)} % (${cpuRange})`,
        elu.toFixed(2),
        `${p50.toFixed(1)} (${p50Range})`,
        `${p99.toFixed(1)} (${p99Range})`,
        system === 'engine-link' && engines === 1000 ? '< 100' : '',
      ];
    }),
  );
  const p99 = spread(results.get('engine-link/1000')!.map((x) => x.p99))[0];
  const rate = spread(results.get('engine-link/1000')!.map((x) => x.perSecond))[0];
  ctx.stand({
    target: '1,000 engines at 10 samples/s: p99 ingest latency < 100 ms',
    figure: `p99 ${p99.toFixed(1)} ms, ${count(rate)} of 10,000 records/s persisted`,
    met: p99 < 100 && rate >= 9_500,
  });
  return [
    table(
      `Fan-in: engines at 10 samples/s each (two engine processes) into one server process, ${seconds} s windows (${ctx.runs} runs; median (min – max))`,
      [
        'system',
        'engines',
        'records/s persisted',
        'server CPU (one core = 100 %)',
        'event loop use',
        'p50 ms',
        'p99 ms',
        'p99 target',
      ],
      rows,
    ),
    'Latency: engine time stamp → committed to SQLite in the server process (same machine clock). Socket.IO and MQTT servers persist into the same schema with a group commit.\n',
  ].join('\n');
}
