import { afterEach, describe, expect, it } from 'vitest';
import { cliProcesses, startAggregatorCli } from '../support/childProcess.ts';
import { type HeldStream, openEventStream } from '../support/eventStreamClient.ts';
import { tempDbPath } from '../support/tempDb.ts';

/**
 * Item 6: live-update streams (server-sent events) are bounded, and fanning updates out to many of them
 * never starves ingest or heartbeats. Real processes: an aggregator, engines streaming samples, and this
 * process holding the streams as browsers would.
 */
const streams: HeldStream[] = [];
afterEach(() => {
  for (const stream of streams.splice(0)) stream.close();
});
const { start } = cliProcesses();

async function startAggregator(extra: string[]): Promise<string> {
  return (await startAggregatorCli(start, tempDbPath(), extra)).url;
}

async function hold(url: string, options: Parameters<typeof openEventStream>[1] = {}): Promise<HeldStream> {
  const stream = await openEventStream(url, options);
  streams.push(stream);
  return stream;
}

describe('live-update streams', () => {
  it('2,000 subscribers while engines stream: every stream is fed, no engine link is declared dead', async () => {
    // Heartbeats four times as tight as the defaults: a stall of about a second is a dead link.
    const url = await startAggregator([
      '--max-event-streams',
      '2100',
      '--max-event-streams-per-client',
      '2100',
      '--heartbeat-ms',
      '250',
      '--heartbeat-timeout',
      '1000',
    ]);
    const monitor = await hold(`${url}/api/events`, { keep: ['engine'] });
    const engines = ['fan-1', 'fan-2', 'fan-3'].map((id) =>
      start([
        'engine',
        '--aggregator',
        url.replace('http', 'ws'),
        '--id',
        id,
        '--simulate',
        '--rate',
        '400',
        '--tags',
        '12',
        '--heartbeat-timeout',
        '500',
        '--log-level',
        'warn',
      ]),
    );
    await monitor.until('every engine available', (s) =>
      ['fan-1', 'fan-2', 'fan-3'].every((id) =>
        s.data.get('engine')?.some((d) => d.includes(`"engineId":"${id}","link":"available"`)),
      ),
    );
    // The storm: 1,000 dashboards' worth of both streams, opened 250 at a time.
    const opened: HeldStream[] = [];
    for (let i = 0; i < 2000; i += 250)
      opened.push(
        ...(await Promise.all(
          Array.from({ length: 250 }, (_, j) =>
            hold(`${url}${(i + j) % 2 === 0 ? '/api/events' : '/api/telemetry/events'}`),
          ),
        )),
      );
    expect(opened.every((s) => s.status === 200)).toBe(true);
    const telemetry = opened.filter((_, i) => i % 2 === 1);
    // Every stream got its snapshot, and every telemetry stream keeps getting updates.
    await Promise.all(
      opened.map((s) => s.until('its snapshot', (x) => (x.counts.get('snapshot') ?? 0) === 1)),
    );
    await Promise.all(
      telemetry.map((s) => s.until('5 telemetry updates', (x) => (x.counts.get('telemetry') ?? 0) >= 5)),
    );
    // Once available, no engine ever left: not unavailable (a missed heartbeat), nor anything else.
    const links = monitor.data.get('engine') ?? [];
    const lastJoin = Math.max(
      ...['fan-1', 'fan-2', 'fan-3'].map((id) =>
        links.findIndex((d) => d.includes(`"engineId":"${id}","link":"available"`)),
      ),
    );
    expect(links.slice(lastJoin + 1)).toEqual([]);
    expect(links.filter((d) => d.includes('unavailable'))).toEqual([]);
    for (const engine of engines) expect(engine.stderr()).not.toMatch(/link down|nothing heard/);
  }, 120_000);

  it('with the default bounds, 2,000 subscribers from 200 addresses: 256 are served, the rest told to come back', async () => {
    const url = await startAggregator([]);
    start([
      'engine',
      '--aggregator',
      url.replace('http', 'ws'),
      '--id',
      'bound-1',
      '--simulate',
      '--rate',
      '200',
      '--log-level',
      'warn',
    ]);
    const attempts: HeldStream[] = [];
    for (let client = 1; client <= 200; client += 20)
      attempts.push(
        ...(await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            hold(`${url}${i % 2 === 0 ? '/api/events' : '/api/telemetry/events'}`, {
              localAddress: `127.0.1.${client + (i % 20)}`,
            }),
          ),
        )),
      );
    const byStatus = new Map<number, number>();
    for (const stream of attempts) byStatus.set(stream.status, (byStatus.get(stream.status) ?? 0) + 1);
    expect(Object.fromEntries(byStatus)).toEqual({ 200: 256, 503: 1744 });
    const refused = attempts.find((s) => s.status === 503)!;
    expect(refused.headers['retry-after']).toBe('5');
    // The streams served are fed.
    await Promise.all(
      attempts
        .filter((s) => s.status === 200)
        .map((s) => s.until('its snapshot', (x) => x.counts.get('snapshot') === 1)),
    );
  }, 120_000);

  it('--max-event-streams and --max-event-streams-per-client refuse the stream past either bound, with Retry-After', async () => {
    const url = await startAggregator(['--max-event-streams', '4', '--max-event-streams-per-client', '2']);
    const a1 = await hold(`${url}/api/events`, { localAddress: '127.0.0.1' });
    await hold(`${url}/api/telemetry/events`, { localAddress: '127.0.0.1' });
    const a3 = await hold(`${url}/api/events`, { localAddress: '127.0.0.1' });
    expect([a1.status, a3.status]).toEqual([200, 429]);
    expect(a3.headers['retry-after']).toBe('5');
    await hold(`${url}/api/events`, { localAddress: '127.0.0.2' });
    await hold(`${url}/api/events`, { localAddress: '127.0.0.2' });
    const full = await hold(`${url}/api/telemetry/events`, { localAddress: '127.0.0.3' });
    expect(full.status).toBe(503);
    expect(full.headers['retry-after']).toBe('5');
    // A place given back is a place again.
    a1.close();
    let again: HeldStream;
    do again = await hold(`${url}/api/events`, { localAddress: '127.0.0.3' });
    while (again.status !== 200);
    await again.until('its snapshot', (s) => s.counts.get('snapshot') === 1);
  });
});
