import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { type AggregatorServer, startAggregatorServer } from '../../src/aggregator/server.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { dashboardRoutes } from '../../src/dashboard/dashboardRoutes.ts';
import { DASHBOARD_FILES } from '../../src/dashboard/staticAssets.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { HandEngine, samples } from '../aggregator/support.ts';

/** The routes the aggregator serves for the dashboard: the page, its files, and telemetry. */
describe('dashboard routes', () => {
  let aggregator: Aggregator;
  let server: AggregatorServer;
  const engines: HandEngine[] = [];
  const streams: AbortController[] = [];

  beforeEach(async () => {
    aggregator = new Aggregator({ store: new SqliteStore(':memory:') });
    server = await startAggregatorServer({ aggregator, port: 0, routes: dashboardRoutes(aggregator) });
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.abort();
    for (const engine of engines.splice(0)) engine.transport.close(1000, 'done');
    await server.close();
    await aggregator.close();
  });

  async function engine(engineId: string): Promise<HandEngine> {
    const hand = new HandEngine(new WebSocketConnector(server.wsUrl).connect({ engineId }), {
      autoPong: true,
    });
    engines.push(hand);
    await hand.opening();
    hand.hello(engineId, 'ep1', 0);
    await hand.nth('welcome', 1);
    return hand;
  }

  it('serves the page at / and its files under /dashboard/, locked to the same origin', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    // Relative, so that the page also works mounted under a prefix (createAggregatorHandler).
    expect(html).toContain('<script type="module" src="dashboard/app.js"></script>');
    for (const file of DASHBOARD_FILES.filter((name) => name !== 'index.html')) {
      const response = await fetch(`${server.url}/dashboard/${file}`);
      expect(response.status, file).toBe(200);
      expect(response.headers.get('content-type'), file).toMatch(
        file.endsWith('.js') ? /^text\/javascript/ : /^text\/css/,
      );
      expect((await response.text()).length, file).toBeGreaterThan(100);
    }
    const missing = await fetch(`${server.url}/dashboard/..%2Fserver.ts`);
    expect(missing.status).toBe(404);
  });

  it('answers telemetry as JSON: samples per tag and newest states, per engine', async () => {
    const hand = await engine('dash-1');
    hand.records(1, [
      ...samples(3),
      ['st', 'hardware.pump', 1_767_225_600_100, { state: 'ok', connection: 'Connected' }],
    ]);
    expect((await hand.nth('ack', 1)).seq).toBe(4);
    const all = await (await fetch(`${server.url}/api/telemetry`)).json();
    expect(all).toMatchObject({
      engines: [
        {
          engineId: 'dash-1',
          persistedSeq: 4,
          tags: { tag0: { points: [[1_767_225_600_000, 0]] }, tag1: {}, tag2: {} },
          states: { 'hardware.pump': { seq: 4, value: { state: 'ok', connection: 'Connected' } } },
        },
      ],
    });
    const one = await fetch(`${server.url}/api/engines/dash-1/telemetry`);
    expect(await one.json()).toMatchObject({ engineId: 'dash-1', persistedSeq: 4 });
    const unknown = await fetch(`${server.url}/api/engines/nobody/telemetry`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'unknown-engine', engineId: 'nobody' });
  });

  it('streams telemetry: a snapshot, then what is new', async () => {
    const hand = await engine('dash-2');
    hand.records(1, samples(2));
    await hand.nth('ack', 1);
    const controller = new AbortController();
    streams.push(controller);
    const response = await fetch(`${server.url}/api/telemetry/events`, { signal: controller.signal });
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const waitFor = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const chunk = await reader.read();
        if (chunk.done) throw new Error(`stream ended before ${pattern}:\n${text}`);
        text += chunk.value;
      }
      return pattern.exec(text)!;
    };
    await waitFor(/event: snapshot\ndata: \{"engines":\[\{"engineId":"dash-2"[^\n]*"persistedSeq":2/);
    hand.records(3, [
      ['st', 'hardware.pump', 1_767_225_601_000, { state: 'issue', connection: 'Connected' }],
    ]);
    const [line] = await waitFor(/event: telemetry\ndata: [^\n]*\n/);
    const update = JSON.parse(line.slice(line.indexOf('data: ') + 6));
    expect(update).toMatchObject({
      engineId: 'dash-2',
      persistedSeq: 3,
      tags: {},
      states: { 'hardware.pump': { seq: 3, value: { state: 'issue' } } },
    });
  });
});
