// 6. Overhead on the engine: time inside send() per record while connected (from the live throughput
// runs) and while buffering (from the memory runs), and the engine process's whole CPU per record while
// connected (send, framing, socket writes, acks). Measures nothing itself: run after "live" and "memory".
import { SYSTEM_LABEL, type SystemName } from '../alternatives/senders.ts';
import { type BenchContext, ratio, spread, table } from '../support.ts';
import type { LiveResult } from './live.ts';
import type { BufferResult } from './memory.ts';

export async function section(ctx: BenchContext): Promise<string> {
  const live = ctx.shared.get('live') as Map<SystemName, LiveResult[]> | undefined;
  const buffer = ctx.shared.get('buffer') as
    | Record<'engine-link' | 'socketio' | 'mqtt', BufferResult[]>
    | undefined;
  if (!live || !buffer)
    return '### Overhead on the engine\n\nNeeds the live and memory sections in the same run.\n';
  const cell = (values: number[] | undefined) => {
    if (!values?.length) return ['–', 0] as const;
    const [m, range] = spread(values, 0);
    return [`${m.toFixed(0)} (${range})`, m] as const;
  };
  const rows: Array<{ system: SystemName; buffering?: BufferResult[] }> = [
    { system: 'engine-link', buffering: buffer['engine-link'] },
    { system: 'raw-ws' },
    { system: 'socketio-ack' },
    { system: 'socketio-faf', buffering: buffer.socketio },
    { system: 'mqtt-qos1', buffering: buffer.mqtt },
  ];
  const [connected, connectedNs] = cell(live.get('engine-link')?.map((r) => r.sendNsPerRecord));
  const [buffering, bufferingNs] = cell(buffer['engine-link'].map((r) => r.sendNsPerRecord));
  ctx.stand({
    target: 'send() < 2 µs per record (connected and buffering)',
    figure: `connected ${connected} ns, buffering ${buffering} ns`,
    met: connectedNs < 2000 && bufferingNs < 2000,
  });
  const linkCpu = spread(live.get('engine-link')!.map((r) => r.cpuNsPerRecord))[0];
  return [
    table(
      `Overhead on the engine: ns per record (${ctx.runs} runs; median (min – max))`,
      [
        'system',
        'send() connected',
        'send() buffering',
        'engine CPU per record, connected',
        'CPU ÷ engine-link',
        'target',
      ],
      rows.map(({ system, buffering: b }) => {
        const cpu = spread(live.get(system)?.map((r) => r.cpuNsPerRecord) ?? [Number.NaN])[0];
        return [
          SYSTEM_LABEL[system],
          cell(live.get(system)?.map((r) => r.sendNsPerRecord))[0],
          cell(b?.map((r) => r.sendNsPerRecord))[0],
          cpu.toFixed(0),
          ratio(cpu, linkCpu),
          system === 'engine-link' ? '< 2,000 (send)' : '',
        ];
      }),
    ),
    'send() connected: time inside the call while producing flat out (the raw ws row includes JSON.stringify and socket.send of each batch of 100). ' +
      'Engine CPU: user + system time of the engine process over the run, per record.\n',
  ].join('\n');
}
