// 4. Memory: heap bytes per buffered sample while the aggregator cannot be reached, 1,000,000 samples,
// engine-link's outbox against Socket.IO's send buffer and MQTT.js's QoS 1 outgoing store. The same runs
// give send() cost while buffering (section "Overhead").
import { type BenchContext, count, ratio, runChild, spread, table } from '../support.ts';

export interface BufferResult {
  sendNsPerRecord: number;
  heapBytesPerRecord: number;
  /** Bytes per record the queue actually holds (MQTT.js keeps at most 65,535). */
  heapBytesPerHeld?: number;
  held?: number;
  lost?: number;
  sampleJsonBytes?: number;
  /** engine-link: records held in the outbox. */
  backlog?: number;
}

export async function section(ctx: BenchContext): Promise<string> {
  const n = ctx.quick ? 200_000 : 1_000_000;
  ctx.log(`buffer memory, ${count(n)} samples`);
  const systems = {
    'engine-link': [] as BufferResult[],
    socketio: [] as BufferResult[],
    mqtt: [] as BufferResult[],
  };
  for (let run = 0; run < ctx.runs; run++) {
    ctx.log(`  engine-link, Socket.IO, MQTT.js: run ${run + 1}/${ctx.runs}`);
    systems['engine-link'].push(
      await ctx.attempt('buffer engine-link', () =>
        runChild<BufferResult>(ctx.scenario('engineSend'), [String(n)], ['--expose-gc']),
      ),
    );
    for (const name of ['socketio', 'mqtt'] as const)
      systems[name].push(
        await ctx.attempt(`buffer ${name}`, () =>
          runChild<BufferResult>(ctx.scenario('bufferAlternatives'), [name, String(n)], ['--expose-gc']),
        ),
      );
  }
  ctx.shared.set('buffer', systems);
  const perHeld = (r: BufferResult) => r.heapBytesPerHeld ?? r.heapBytesPerRecord;
  const [link, linkRange] = spread(systems['engine-link'].map(perHeld));
  const [sio, sioRange] = spread(systems.socketio.map(perHeld));
  const [mq, mqRange] = spread(systems.mqtt.map(perHeld));
  // Held and lost as each run measured them (the median run's; a queue that keeps everything loses none).
  const medianOf = (runs: BufferResult[], pick: (r: BufferResult) => number) => spread(runs.map(pick))[0];
  const linkHeld = medianOf(systems['engine-link'], (r) => r.backlog ?? 0);
  const sioHeld = medianOf(systems.socketio, (r) => r.held ?? 0);
  const sioLost = medianOf(systems.socketio, (r) => r.lost ?? n - (r.held ?? 0));
  const mqHeld = medianOf(systems.mqtt, (r) => r.held ?? 0);
  const mqLost = medianOf(systems.mqtt, (r) => r.lost ?? n - (r.held ?? 0));
  ctx.stand({
    target: 'heap per buffered sample <= 64 bytes',
    figure: `${link.toFixed(1)} B (Socket.IO ${sio.toFixed(0)} B, MQTT.js ${mq.toFixed(0)} B)`,
    met: link <= 64,
  });
  return table(
    `Memory: heap bytes per buffered sample, ${count(n)} samples handed over while the server is unreachable (${ctx.runs} runs)`,
    [
      'system',
      'samples held',
      'lost',
      'heap B / held sample (median)',
      'min – max',
      'this ÷ engine-link',
      'target',
    ],
    [
      [
        'engine-link (memory outbox)',
        count(linkHeld),
        count(n - linkHeld),
        link,
        linkRange,
        '1.00x',
        '<= 64',
      ],
      [
        'Socket.IO 4 (send buffer while disconnected)',
        count(sioHeld),
        count(sioLost),
        sio,
        sioRange,
        ratio(sio, link),
        '',
      ],
      [
        'MQTT.js 5 QoS 1 (outgoing store)',
        count(mqHeld),
        `${count(mqLost)}${mqLost > 0 ? ' (silently overwritten)' : ''}`,
        mq,
        mqRange,
        ratio(mq, link),
        '',
      ],
    ],
  );
}
