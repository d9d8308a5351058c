import type { Page } from 'playwright-core';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { type AggregatorServer, startAggregatorServer } from '../../src/aggregator/server.ts';
import { PostgresStore } from '../../src/aggregator/store/postgres/postgresStore.ts';
import { dashboardRoutes } from '../../src/dashboard/dashboardRoutes.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { PostgresCluster } from '../../src/faults/postgresCluster.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { type Browser, launchBrowser } from '../support/browser.ts';
import { nextEvent } from '../support/until.ts';

/**
 * The dashboard in a real headless Chromium while the aggregator's PostgreSQL (a throwaway server of the
 * test's own) is SIGKILLed and started again: the page says the store is unavailable (from the `store`
 * event of /api/events) while the engine stays available, and the banner goes once PostgreSQL is back.
 */
const WAIT = { timeout: 30_000 };
let cluster: PostgresCluster;
let aggregator: Aggregator;
let server: AggregatorServer;
let engine: ResilientDispatcher;
let browser: Browser;
let page: Page;
let timer: NodeJS.Timeout | undefined;

beforeAll(async () => {
  cluster = await PostgresCluster.create();
  const admin = postgres(cluster.url(), { max: 1, onnotice: () => {} });
  await admin.unsafe('CREATE DATABASE engine_link_dashboard');
  await admin.end();
  aggregator = new Aggregator({
    store: await PostgresStore.open(cluster.url('engine_link_dashboard')),
    heartbeatMs: 200,
    heartbeatTimeoutMs: 1000,
  });
  await aggregator.ready;
  server = await startAggregatorServer({ aggregator, port: 0, routes: dashboardRoutes(aggregator) });
  engine = new ResilientDispatcher({
    engineId: 'pg-engine',
    connector: new WebSocketConnector(server.wsUrl, { handshakeTimeoutMs: 2000 }),
    heartbeatTimeoutMs: 1000,
    retry: { initialMs: 100, maxMs: 300 },
  });
  timer = setInterval(() => engine.send({ kind: 'sample', tag: 'temp', value: Math.random() }), 20);
  browser = await launchBrowser();
  page = await browser.context.newPage();
});

afterAll(async () => {
  clearInterval(timer);
  await browser?.close();
  await engine?.close({ drainTimeoutMs: 0 });
  await server?.close();
  await aggregator?.close();
  cluster?.destroy();
});

describe('dashboard while PostgreSQL is away', () => {
  it('shows a banner while the store is unavailable, the engine still available; the banner goes when it is back', async () => {
    await page.goto(`${server.url}/`);
    const card = 'article.engine[data-engine-id="pg-engine"]';
    await page.waitForSelector(`${card}[data-link="available"]`, WAIT);
    expect(await page.isHidden('#store-status')).toBe(true);

    const lost = nextEvent<{ available: boolean }>(aggregator, 'store', (s) => !s.available);
    await cluster.kill();
    await lost;
    await page.waitForSelector('#store-status:not([hidden])', WAIT);
    expect(await page.textContent('#store-status')).toMatch(/store is unavailable/);
    // The engine keeps its link: nothing is acknowledged, nothing is lost.
    expect(await page.getAttribute(card, 'data-link')).toBe('available');
    expect(aggregator.engine('pg-engine')?.link).toBe('available');

    await cluster.start();
    await page.waitForSelector('#store-status', { state: 'hidden', ...WAIT });
    const backlog = engine.stats.produced;
    await nextEvent<{ engineId: string; seq: number }>(aggregator, 'persisted', (p) => p.seq >= backlog);
  }, 90_000);
});
