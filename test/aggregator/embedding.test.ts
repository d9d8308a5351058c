import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { type AggregatorHandler, createAggregatorHandler } from '../../src/aggregator/aggregatorHandler.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { dashboardRoutes } from '../../src/dashboard/dashboardRoutes.ts';
import { waitFor } from '../../src/faults/waitFor.ts';
import { parseEngineLine } from '../../src/soak/engineLines.ts';
import { cliProcesses } from '../support/childProcess.ts';
import { tempDbPath } from '../support/tempDb.ts';

/**
 * The aggregator mounted in a plain node:http server of someone else's, beside that server's own routes
 * and its own WebSocket endpoint: the HTTP API and the dashboard under /lab, engine links on
 * /engines/:id/link. The engine is an OS process of its own, started through the CLI.
 */
const cli = cliProcesses();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Host {
  server: Server;
  url: string;
  aggregator: Aggregator;
  handler: AggregatorHandler;
}

/** The caller's server: its own routes and a chat WebSocket; the aggregator attached to it. */
async function hostServer(options: { apiToken?: string } = {}): Promise<Host> {
  const aggregator = new Aggregator({ store: new SqliteStore(tempDbPath()) });
  const handler = createAggregatorHandler({
    aggregator,
    routes: dashboardRoutes(aggregator),
    prefix: '/lab',
    apiToken: options.apiToken,
  });
  const chat = new WebSocketServer({ noServer: true });
  chat.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${data}`)));
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    if (handler.handleRequest(request, response)) return;
    if (request.url === '/') response.end('the host application');
    else if (request.url === '/api/engines') response.end('the host application has an /api too');
    else response.writeHead(404).end('host: not found');
  });
  server.on('upgrade', (request, socket, head) => {
    if (handler.handleUpgrade(request, socket, head)) return;
    if (request.url === '/chat')
      chat.handleUpgrade(request, socket, head, (ws) => chat.emit('connection', ws));
    else socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cleanups.push(async () => {
    await handler.closeLinks();
    chat.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await aggregator.close();
  });
  return { server, url, aggregator, handler };
}

async function text(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; body: string; response: Response }> {
  const response = await fetch(url, { redirect: 'manual', ...init });
  return { status: response.status, body: await response.text(), response };
}

describe('the aggregator embedded in a plain node:http server', () => {
  it('takes an engine process on /engines/:id/link and serves its API and dashboard under /lab, beside the host routes', async () => {
    const host = await hostServer();
    const engine = cli.start([
      'engine',
      '--aggregator',
      host.url.replace(/^http/, 'ws'),
      '--id',
      'embedded-1',
      '--simulate',
      '--rate',
      '400',
      '--log-level',
      'warn',
    ]);
    const persisted = await waitFor('the engine is available with records persisted', async () => {
      const response = await fetch(`${host.url}/lab/api/engines/embedded-1`);
      if (response.status !== 200) return undefined;
      const view = (await response.json()) as { link: string; persistedSeq: number };
      return view.link === 'available' && view.persistedSeq >= 500 && view.persistedSeq;
    });
    expect(persisted).toBeGreaterThanOrEqual(500);

    // The host's own routes, its own /api among them, and its own WebSocket are untouched.
    expect(await text(`${host.url}/`)).toMatchObject({ status: 200, body: 'the host application' });
    expect(await text(`${host.url}/api/engines`)).toMatchObject({
      status: 200,
      body: 'the host application has an /api too',
    });
    const chat = new WebSocket(`${host.url.replace(/^http/, 'ws')}/chat`);
    await once(chat, 'open');
    chat.send('hi');
    const [echo] = await once(chat, 'message');
    expect(String(echo)).toBe('echo hi');
    chat.close();

    // The dashboard under the prefix: the mount point redirects to its slash, the page's links are relative.
    const mountPoint = await text(`${host.url}/lab`);
    expect(mountPoint.status).toBe(308);
    expect(mountPoint.response.headers.get('location')).toBe('/lab/');
    const page = await text(`${host.url}/lab/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('src="dashboard/app.js"');
    expect((await text(`${host.url}/lab/dashboard/app.js`)).status).toBe(200);
    const telemetry = await fetch(`${host.url}/lab/api/engines/embedded-1/telemetry`);
    expect(telemetry.status).toBe(200);
    expect((await text(`${host.url}/lab/healthz`)).body).toContain('"ok":true');
    // Outside the prefix the handler answers nothing: the host's 404.
    expect(await text(`${host.url}/lab-other/api/engines`)).toMatchObject({
      status: 404,
      body: 'host: not found',
    });

    // SIGTERM: the engine drains and says what it produced; the store holds exactly that, in order.
    engine.child.kill('SIGTERM');
    const finalLine = await engine.waitForLine(/"lastSeq"/);
    const final = parseEngineLine(finalLine);
    expect(final?.type).toBe('final');
    if (final?.type !== 'final') return;
    expect(final.final).toMatchObject({ engineId: 'embedded-1', dropped: 0, backlog: 0 });
    expect(final.final.acked).toBe(final.final.lastSeq);
    const records = await host.aggregator.store.records('embedded-1', { limit: 1_000_000 });
    expect(records.length).toBe(final.final.lastSeq);
    expect(records.map((record) => record.seq)).toEqual(records.map((_, i) => i + 1));
    await waitFor('the engine shows offline after its goodbye', async () => {
      const view = (await (await fetch(`${host.url}/lab/api/engines/embedded-1`)).json()) as { link: string };
      return view.link === 'offline';
    });
  }, 60_000);

  it('keeps the API token and the guards under the prefix; a token in the address redirects inside it', async () => {
    const host = await hostServer({ apiToken: 'tok-lab' });
    expect((await text(`${host.url}/lab/api/engines`)).status).toBe(401);
    expect((await text(`${host.url}/lab/healthz`)).status).toBe(200);
    const ok = await text(`${host.url}/lab/api/engines`, { headers: { authorization: 'Bearer tok-lab' } });
    expect(ok).toMatchObject({ status: 200, body: '[]' });
    const opened = await text(`${host.url}/lab/?token=tok-lab`);
    expect(opened.status).toBe(303);
    expect(opened.response.headers.get('location')).toBe('/lab/');
    expect(opened.response.headers.get('set-cookie')).toMatch(/^engine_link_token=tok-lab;/);
    // A page of another origin may not use it (the origin guard applies whatever the mount point).
    const foreign = await text(`${host.url}/lab/api/engines`, {
      headers: { authorization: 'Bearer tok-lab', origin: 'http://evil.example' },
    });
    expect(foreign.status).toBe(403);
    // The host's routes need no token.
    expect((await text(`${host.url}/`)).status).toBe(200);
  });

  it('attach() listens on the server itself, and answers 404 to what nothing else takes', async () => {
    const aggregator = new Aggregator({ store: new SqliteStore(':memory:') });
    const handler = createAggregatorHandler({ aggregator, prefix: '/engine-link' });
    const server = createServer();
    const detach = handler.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    cleanups.push(async () => {
      detach();
      await handler.closeLinks();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await aggregator.close();
    });
    expect((await text(`${url}/engine-link/api/engines`)).body).toBe('[]');
    expect((await text(`${url}/elsewhere`)).status).toBe(404);
    const stray = new WebSocket(`${url.replace(/^http/, 'ws')}/not-an-engine`);
    stray.on('error', () => {
      // Ended by terminate() below, once the refusal is read.
    });
    const [, response] = (await once(stray, 'unexpected-response')) as [unknown, IncomingMessage];
    expect(response.statusCode).toBe(404);
    stray.terminate();
  });

  it('refuses a prefix that is not a path', () => {
    const aggregator = new Aggregator({ store: new SqliteStore(':memory:') });
    cleanups.push(() => aggregator.close());
    for (const prefix of ['lab', '/lab/', '/la b'])
      expect(() => createAggregatorHandler({ aggregator, prefix })).toThrow(/prefix must be a path/);
  });
});
