import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { type AggregatorServer, startAggregatorServer } from '../../src/aggregator/server.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { dashboardRoutes } from '../../src/dashboard/dashboardRoutes.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { SimulatedEngine } from '../../src/engine/simulatedEngine.ts';
import { HardwareRecovery } from '../../src/hardware/hardwareRecovery.ts';
import { reportHardwareState } from '../../src/hardware/reportHardwareState.ts';
import { SimulatedHardware } from '../../src/hardware/simulatedHardware.ts';
import { FaultProxy } from '../../src/transport/faultProxy.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { type Browser, launchBrowser } from '../support/browser.ts';
import { nextEvent } from '../support/until.ts';

/**
 * The dashboard in a real headless Chromium, against a real aggregator and real engines over WebSockets.
 * The engine `reactor-1` reaches the aggregator through a TCP fault proxy that the test cuts and
 * restores; the page reaches it through another, so the test can also take the page's live updates away.
 * Every wait is for something to happen (a selector, an event), never for time to pass. Screenshots of
 * each state go to test/e2e/__screenshots__/ for people to look at.
 */
const screenshots = join(import.meta.dirname, '__screenshots__');
const WAIT = { timeout: 20_000 };

interface Engine {
  dispatcher: ResilientDispatcher;
  sim: SimulatedEngine;
}

let aggregator: Aggregator;
let server: AggregatorServer;
let engineLink: FaultProxy;
let pageLink: FaultProxy;
let browser: Browser;
let page: Page;
let pageUrl: string;
let engineUrl: string;
const engines: Engine[] = [];
const hardware = new SimulatedHardware([{ name: 'pump.speed', direction: 'read', value: 120 }]);
let recovery: HardwareRecovery | undefined;
let stopReporting = () => {};

function startEngine(engineId: string, url: string, rate: number): Engine {
  let sim: SimulatedEngine | undefined;
  const dispatcher = new ResilientDispatcher({
    engineId,
    connector: new WebSocketConnector(url, { handshakeTimeoutMs: 2000 }),
    heartbeatTimeoutMs: 1000,
    connectTimeoutMs: 2000,
    retry: { initialMs: 100, maxMs: 300 },
    // One small frame in flight: the catch-up after the outage is slow enough to be seen.
    windowFrames: 1,
    outbox: { batchRecords: 100 },
    snapshot: () => sim?.runs.snapshot(),
  });
  sim = new SimulatedEngine(dispatcher, { rate, tags: 3 });
  dispatcher.handleCommands(sim.handleCommand);
  sim.start();
  const engine = { dispatcher, sim };
  engines.push(engine);
  return engine;
}

function card(engineId: string): string {
  return `article.engine[data-engine-id="${engineId}"]`;
}

async function shoot(name: string): Promise<void> {
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  mkdirSync(screenshots, { recursive: true });
  aggregator = new Aggregator({
    store: new SqliteStore(':memory:'),
    heartbeatMs: 200,
    heartbeatTimeoutMs: 1000,
  });
  server = await startAggregatorServer({ aggregator, port: 0, routes: dashboardRoutes(aggregator) });
  engineLink = new FaultProxy({ host: '127.0.0.1', port: server.port });
  pageLink = new FaultProxy({ host: '127.0.0.1', port: server.port });
  engineUrl = `ws://127.0.0.1:${(await engineLink.start()).port}`;
  pageUrl = `http://127.0.0.1:${(await pageLink.start()).port}/`;
  browser = await launchBrowser();
  page = await browser.context.newPage();
});

afterAll(async () => {
  stopReporting();
  await recovery?.disconnect();
  for (const { sim, dispatcher } of engines.splice(0)) {
    sim.stop();
    await dispatcher.close({ drainTimeoutMs: 0 });
  }
  await browser?.close();
  await engineLink?.close();
  await pageLink?.close();
  await server?.close();
  await aggregator?.close();
});

describe('dashboard in headless Chromium', () => {
  it('shows engines, hardware, samples and runs live; an outage greys the engine and disables its commands; a command refused anyway shows the 409; catch-up shows progress; a run completed during the outage shows the engine times', async () => {
    const reactor1 = startEngine('reactor-1', engineUrl, 20);
    startEngine('reactor-2', server.wsUrl, 10);
    recovery = new HardwareRecovery(hardware, { name: 'pump' });
    stopReporting = reportHardwareState(recovery, reactor1.dispatcher);
    await recovery.connect();

    // 1. Both engines available, with hardware, samples and the command box enabled.
    await page.goto(pageUrl);
    await page.waitForSelector('#stream-status[data-status="live"]', WAIT);
    await page.waitForSelector(`${card('reactor-1')}[data-link="available"]`, WAIT);
    await page.waitForSelector(`${card('reactor-2')}[data-link="available"]`, WAIT);
    await page.waitForSelector(`${card('reactor-1')} .hw[data-hardware="pump"][data-state="ok"]`, WAIT);
    await page.waitForSelector(`${card('reactor-1')} .tag-row[data-tag="tag3"] path[d^="M"]`, WAIT);
    expect(await page.locator(`${card('reactor-1')} .hardware`).innerText()).toContain(
      'pump: ok · Connected',
    );
    expect(
      await page.evaluate(
        `[...document.querySelectorAll('${card('reactor-1')} .tag-row')].map((row) => row.dataset.tag)`,
      ),
    ).toEqual(['tag1', 'tag2', 'tag3']);
    expect(await page.locator(`${card('reactor-1')} .command-send`).isEnabled()).toBe(true);

    // 2. A run started from the page's command box.
    await page.fill(`${card('reactor-1')} .command-name`, 'start');
    await page.fill(`${card('reactor-1')} .command-args`, '{"method":"titration"}');
    await page.click(`${card('reactor-1')} .command-send`);
    await page.waitForSelector(`${card('reactor-1')} .command-result.ok`, WAIT);
    const started = await page.locator(`${card('reactor-1')} .command-result`).innerText();
    const runId = /"runId":"([^"]+)"/.exec(started)?.[1];
    expect(runId, started).toMatch(/^reactor-1-/);
    await page.waitForSelector(`#runs tr[data-run-id="${runId}"][data-state="active"]`, WAIT);
    await page.waitForSelector(`${card('reactor-1')} .current-run .run-active`, WAIT);
    await shoot('1-available');

    // 3. The page loses its live updates (its event streams cannot come back), then the engine's link is
    //    cut. The page still shows the engine available: a command sent now is refused, and it says why.
    await page.route('**/api/events', (route) => route.abort());
    await page.route('**/api/telemetry/events', (route) => route.abort());
    pageLink.cut();
    await page.waitForSelector('#stream-status[data-status="reconnecting"]', WAIT);
    const lost = nextEvent<{ link: string }>(aggregator, 'engineState', (e) => e.link === 'unavailable');
    engineLink.refuse();
    await lost;
    expect(await page.locator(card('reactor-1')).getAttribute('data-link')).toBe('available');
    await page.fill(`${card('reactor-1')} .command-name`, 'ping');
    await page.fill(`${card('reactor-1')} .command-args`, '');
    await page.click(`${card('reactor-1')} .command-send`);
    await page.waitForSelector(`${card('reactor-1')} .command-result.error`, WAIT);
    const refusal = await page.locator(`${card('reactor-1')} .command-result`).innerText();
    expect(refusal).toMatch(
      /^\d\d:\d\d:\d\d · Refused \(409 engine-unavailable\): engine reactor-1 is unavailable; commands cannot reach it$/,
    );
    // The refusal told the page the truth: the box is disabled at once, before the stream is back.
    await page.waitForSelector(`${card('reactor-1')}[data-link="unavailable"] .command-send:disabled`, WAIT);
    await shoot('2-refused-while-stale');

    // 4. Live updates come back by themselves: the engine is greyed, with the time it was lost, and its
    //    run is unconfirmed. Meanwhile the engine completes the run and keeps sampling into its outbox.
    await page.unroute('**/api/events');
    await page.unroute('**/api/telemetry/events');
    await page.waitForSelector('#stream-status[data-status="live"]', WAIT);
    await page.waitForSelector(`#runs tr[data-run-id="${runId}"][data-state="unconfirmed"]`, WAIT);
    const lostAt = aggregator.engine('reactor-1')!.since;
    expect(
      await page.locator(`${card('reactor-1')}.interrupted .lost-banner time`).getAttribute('datetime'),
    ).toBe(new Date(lostAt).toISOString());
    expect(await page.locator(`${card('reactor-1')} .lost-banner`).innerText()).toMatch(
      /^Link lost at \d\d:\d\d:\d\d/,
    );
    for (const field of ['.command-send', '.command-name', '.command-args'])
      expect(await page.locator(`${card('reactor-1')} ${field}`).isDisabled(), field).toBe(true);
    expect(await page.locator(`${card('reactor-1')} .command-note`).innerText()).toBe(
      'Commands are disabled: the engine cannot be reached.',
    );
    expect(await page.locator(`${card('reactor-2')} .command-send`).isEnabled()).toBe(true);

    reactor1.sim.handleCommand({ id: 'engine-side-stop', name: 'stop', args: undefined });
    const engineRun = reactor1.sim.runs.snapshot().last!;
    expect(engineRun).toMatchObject({ runId, outcome: 'completed' });
    for (let i = 0; i < 3000; i++)
      reactor1.dispatcher.send({
        kind: 'sample',
        tag: `tag${(i % 3) + 1}`,
        value: 50 + (i % 40),
        unit: 'degC',
      });
    await shoot('3-unavailable');

    // 5. The link is back, slow: catch-up progress, commands still disabled, then available.
    const catchingUp = nextEvent<{ link: string }>(
      aggregator,
      'engineState',
      (e) => e.link === 'catching-up',
    );
    engineLink.restore();
    engineLink.delayMs = 30;
    await catchingUp;
    await page.waitForSelector(`${card('reactor-1')}[data-link="catching-up"] .catch-up:not([hidden])`, WAIT);
    // Part of the backlog persisted, not all of it.
    await page.waitForSelector(
      `${card('reactor-1')} .bar[aria-valuenow]:not([aria-valuenow="0"]):not([aria-valuenow="100"])`,
      WAIT,
    );
    expect(await page.locator(`${card('reactor-1')} .catch-up-text`).innerText()).toMatch(
      /^[\d,]+ of [\d,]+ records \(\d+ %\) · [\d,]+ left$/,
    );
    expect(await page.locator(`${card('reactor-1')} .command-send`).isDisabled()).toBe(true);
    expect(await page.locator(`${card('reactor-1')} .command-note`).innerText()).toBe(
      'Commands are disabled while the engine catches up on its backlog.',
    );
    await shoot('4-catching-up');

    await page.waitForSelector(`${card('reactor-1')}[data-link="available"]`, { timeout: 60_000 });
    engineLink.delayMs = 0;
    const row = `#runs tr[data-run-id="${runId}"][data-state="completed"]`;
    await page.waitForSelector(row, WAIT);
    // The engine's own start and end times, not the aggregator's (which learnt of the end only now).
    expect(await page.locator(`${row} .run-started time`).getAttribute('datetime')).toBe(
      new Date(engineRun.startedAt).toISOString(),
    );
    expect(await page.locator(`${row} .run-ended time`).getAttribute('datetime')).toBe(
      new Date(engineRun.endedAt).toISOString(),
    );
    expect(engineRun.endedAt).toBeLessThan((await aggregator.run(runId!))!.since);
    expect(await page.locator(`${card('reactor-1')} .command-send`).isEnabled()).toBe(true);
    expect(await page.locator(`${card('reactor-1')} .current-run`).innerText()).toBe('none');
    await shoot('5-caught-up');
  }, 120_000);
});
