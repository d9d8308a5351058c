// 2. Catch-up: a backlog drained into the aggregator's SQLite store, against the raw insert rate of the
// same schema and MQTT.js's stored QoS 1 replay, and a 10,000,000-record durable-outbox run (a run that
// fails is reported in its row, not fatal to the whole bench).
import {
  type BenchContext,
  count,
  ratio,
  runChild,
  spread,
  startChild,
  stopChild,
  table,
} from '../support.ts';

interface RawInsert {
  singleRow: number;
  multiRow: number;
}
type Durable =
  | { available: false; reason: string }
  | { available: true; perSecond: number; appendPerSecond: number };

async function withAggregator<T>(ctx: BenchContext, fn: (port: string) => Promise<T>): Promise<T> {
  const { child, ready } = await startChild(ctx.server('aggregatorServer'));
  try {
    return await fn(String(ready.port));
  } finally {
    await stopChild(child);
  }
}

export async function section(ctx: BenchContext): Promise<string> {
  const n = ctx.quick ? 200_000 : 1_000_000;
  const durableN = ctx.quick ? 1_000_000 : 10_000_000;
  const mqttN = ctx.quick ? 20_000 : 50_000;
  ctx.log(
    `catch-up: ${count(n)} (memory outbox), ${count(durableN)} (durable outbox), MQTT replay ${count(mqttN)}`,
  );
  const memory: number[] = [];
  const raw: RawInsert[] = [];
  const mqtt: number[] = [];
  const durable: Durable[] = [];
  for (let run = 0; run < ctx.runs; run++) {
    ctx.log(`  memory outbox, raw insert, MQTT.js replay: run ${run + 1}/${ctx.runs}`);
    memory.push(
      await ctx.attempt('catch-up, memory outbox', () =>
        withAggregator(
          ctx,
          async (port) => (await runChild(ctx.scenario('catchUp'), [port, String(n)])).perSecond,
        ),
      ),
    );
    raw.push(
      await ctx.attempt('raw SQLite insert', () =>
        runChild<RawInsert>(ctx.scenario('sqliteInsert'), [String(n)]),
      ),
    );
    mqtt.push(
      await ctx.attempt(
        'MQTT.js replay',
        async () => (await runChild(ctx.scenario('mqttReplay'), [String(mqttN)])).perSecond,
      ),
    );
  }
  // The 10,000,000-record run takes minutes (it dominates the whole bench): once, unless asked for more.
  const durableRuns = Number(process.env.BENCH_DURABLE_RUNS ?? 1);
  for (let run = 0; run < durableRuns; run++) {
    ctx.log(`  durable outbox, ${count(durableN)}: run ${run + 1}/${durableRuns}`);
    // The durable outbox is new and changing: a failed run is reported, not fatal to the whole bench.
    const result = await withAggregator(ctx, (port) =>
      runChild<Durable>(
        ctx.scenario('catchUpDurable'),
        [port, String(durableN)],
        ['--max-old-space-size=4096'],
      ),
    ).catch((error: Error): Durable => ({ available: false, reason: `run failed: ${error.message}` }));
    durable.push(result);
    if (!result.available) break;
  }

  const [mem, memRange] = spread(memory);
  const [single, singleRange] = spread(raw.map((r) => r.singleRow));
  const [multi, multiRange] = spread(raw.map((r) => r.multiRow));
  const limit = Math.max(single, multi);
  const [mq, mqRange] = spread(mqtt);
  const rows: Array<Array<string | number>> = [
    [
      'engine-link, memory outbox → ws → SQLite',
      count(n),
      mem,
      memRange,
      ratio(mem, limit),
      '>= 300,000 and >= 0.5x',
    ],
  ];
  const first = durable[0];
  if (first?.available) {
    const ok = durable.filter((d): d is Extract<Durable, { available: true }> => d.available);
    const [d, dRange] = spread(ok.map((r) => r.perSecond));
    const [a, aRange] = spread(ok.map((r) => r.appendPerSecond));
    rows.push([
      'engine-link, durable outbox → ws → SQLite',
      count(durableN),
      d,
      dRange,
      ratio(d, limit),
      '>= 300,000',
    ]);
    rows.push(['  (appending to the durable outbox while offline)', count(durableN), a, aRange, '', '']);
    ctx.stand({
      target: `catch-up ${count(durableN)} from the durable outbox >= 300,000 records/s`,
      figure: `${count(d)} records/s`,
      met: d >= 300_000,
    });
  } else {
    const reason = first && !first.available ? first.reason : 'not run';
    rows.push([
      'engine-link, durable outbox → ws → SQLite',
      count(durableN),
      'not available',
      reason,
      '',
      '>= 300,000',
    ]);
    ctx.stand({
      target: `catch-up ${count(durableN)} from the durable outbox >= 300,000 records/s`,
      figure: `not available: ${reason}`,
      met: undefined,
    });
  }
  rows.push(
    [
      `raw SQLite insert, same schema, 50-row INSERTs${multi >= single ? ' (the limit)' : ''}`,
      count(n),
      multi,
      multiRange,
      ratio(multi, limit),
      '',
    ],
    [
      `raw SQLite insert, same schema, single-row INSERTs${single > multi ? ' (the limit)' : ''}`,
      count(n),
      single,
      singleRange,
      ratio(single, limit),
      '',
    ],
    [
      'MQTT.js QoS 1 offline store replayed to aedes (not stored)',
      count(mqttN),
      mq,
      mqRange,
      ratio(mq, limit),
      '',
    ],
  );
  ctx.stand({
    target: 'catch-up (1M, memory outbox) >= 300,000 records/s',
    figure: `${count(mem)} records/s`,
    met: mem >= 300_000,
  });
  ctx.stand({
    target: 'catch-up >= 0.5x the raw insert rate',
    figure: `${ratio(mem, multi)} of 50-row INSERTs (${count(multi)}/s), ${ratio(mem, single)} of single-row INSERTs (${count(single)}/s)`,
    met: mem >= 0.5 * limit,
  });
  return [
    table(
      `Catch-up: backlog drained into the aggregator's SQLite store (${ctx.runs} runs; durable outbox ${durableRuns})`,
      ['path', 'records', 'records/s (median)', 'min – max', '÷ raw insert limit', 'target'],
      rows,
    ),
    `MQTT.js replays its store one message at a time (each waits for its PUBACK), and its store holds at most 65,535 QoS 1 messages (16-bit packet ids), so it is measured with ${count(mqttN)}.\n`,
  ].join('\n');
}
