import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitFor } from '../../src/faults/waitFor.ts';
import { cliProcesses, startAggregatorCli } from '../support/childProcess.ts';
import { rawRequest } from '../support/rawHttp.ts';
import { tempDbPath } from '../support/tempDb.ts';

/**
 * Item 2: what a hostile web page open in an operator's browser could make the browser send to the
 * aggregator: a command as a "simple" cross-site POST (text/plain, no preflight), a request after a DNS
 * rebinding (a foreign Host), a WebSocket to an engine link. Refused whether or not an API token is set;
 * the aggregator's own page and the CLI still work. Real processes, real sockets.
 */
const { start } = cliProcesses();

async function aggregatorWithEngine(extra: string[] = []) {
  const { url } = await startAggregatorCli(start, tempDbPath(), extra);
  const port = new URL(url).port;
  start([
    'engine',
    '--aggregator',
    url.replace('http', 'ws'),
    '--id',
    'lab-1',
    '--simulate',
    '--rate',
    '20',
    '--log-level',
    'warn',
  ]);
  const headers: Record<string, string> = extra.includes('--api-token')
    ? { authorization: `Bearer ${extra[extra.indexOf('--api-token') + 1]}` }
    : {};
  // The engine is available once the aggregator lists it so.
  for (;;) {
    const engines = (await rawRequest(`${url}/api/engines`, { headers })).json as Array<{
      id: string;
      link: string;
    }>;
    if (engines.some((e) => e.id === 'lab-1' && e.link === 'available')) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url, port, auth: headers };
}

const startCommand = JSON.stringify({ name: 'start', id: 'cross-site-1' });

async function runsOf(url: string, auth: Record<string, string>): Promise<unknown[]> {
  return (await rawRequest(`${url}/api/runs?engine=lab-1`, { headers: auth })).json as unknown[];
}

describe('cross-site requests and DNS rebinding', () => {
  for (const withToken of [false, true])
    it(`are refused ${withToken ? 'with' : 'without'} an API token; the engine never hears of them`, async () => {
      const { url, port, auth } = await aggregatorWithEngine(withToken ? ['--api-token', 'tok-123'] : []);
      const post = (headers: Record<string, string>, body = startCommand) =>
        rawRequest(`${url}/api/engines/lab-1/commands`, {
          method: 'POST',
          headers: { ...auth, ...headers },
          body,
        });

      // The request a page on another site can send without a preflight.
      const simple = await post({
        'content-type': 'text/plain',
        origin: 'http://evil.example',
        host: 'evil.example',
      });
      expect(simple.status).toBe(403);
      // Same site name, but a body that is not declared JSON.
      const textPlain = await post({ 'content-type': 'text/plain' });
      expect(textPlain).toMatchObject({ status: 415, json: { error: 'unsupported-media-type' } });
      const form = await post({ 'content-type': 'application/x-www-form-urlencoded' });
      expect(form.status).toBe(415);
      // JSON from another origin (the browser would have asked first; a careless proxy might not).
      const foreignOrigin = await post({ 'content-type': 'application/json', origin: 'http://evil.example' });
      expect(foreignOrigin).toMatchObject({ status: 403, json: { error: 'forbidden' } });
      expect((foreignOrigin.json as { message: string }).message).toMatch(/cross-origin request refused/);
      const nullOrigin = await post({ 'content-type': 'application/json', origin: 'null' });
      expect(nullOrigin.status).toBe(403);
      // Another web application on this machine is another origin: another port.
      const otherLocalApp = await post({ 'content-type': 'application/json', origin: 'http://127.0.0.1:9' });
      expect(otherLocalApp.status).toBe(403);
      // DNS rebinding: the page's own origin, but the Host is the attacker's name.
      const rebound = await post({
        'content-type': 'application/json',
        host: `evil.example:${port}`,
        origin: `http://evil.example:${port}`,
      });
      expect(rebound.status).toBe(403);
      expect((rebound.json as { message: string }).message).toMatch(
        /not an address of this aggregator.*--public-url/,
      );
      const reboundRead = await rawRequest(`${url}/api/runs`, {
        headers: { ...auth, host: `evil.example:${port}` },
      });
      expect(reboundRead.status).toBe(403);
      // An engine link opened by a page (browsers always send Origin; engines never do).
      const link = new WebSocket(`${url.replace('http', 'ws')}/engines/lab-2/link`, {
        origin: 'http://evil.example',
      });
      const refused = await new Promise<number>((resolve) =>
        link.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
      );
      expect(refused).toBe(403);

      expect(await runsOf(url, auth)).toEqual([]);
      // The aggregator's own page (same origin) and the CLI (no Origin) are served.
      const own = await post({ 'content-type': 'application/json; charset=utf-8', origin: url });
      expect(own).toMatchObject({ status: 200, json: { id: 'cross-site-1', ok: true } });
      // The command's answer and the record of the run it started travel separately: the record is
      // committed once it arrives, which may be just after the answer.
      await waitFor(
        'the run the command started is stored',
        async () => (await runsOf(url, auth)).length > 0,
      );
      expect(await runsOf(url, auth)).toHaveLength(1);
      const localhost = await rawRequest(`${url}/api/engines`, {
        headers: { ...auth, host: `localhost:${port}` },
      });
      expect(localhost.status).toBe(200);
      // Health checks come with whatever Host their prober uses.
      expect((await rawRequest(`${url}/healthz`, { headers: { host: 'probe.internal' } })).status).toBe(200);
    });

  it('--public-url adds a name the aggregator is reached by', async () => {
    const { url } = await startAggregatorCli(start, tempDbPath(), [
      '--public-url',
      'https://lab.example,http://aggregator.lab:9000',
    ]);
    const viaProxy = await rawRequest(`${url}/api/engines`, {
      headers: { host: 'lab.example', origin: 'https://lab.example' },
    });
    expect(viaProxy.status).toBe(200);
    expect(
      (await rawRequest(`${url}/api/engines`, { headers: { host: 'aggregator.lab:9000' } })).status,
    ).toBe(200);
    // The port is the one a mapping or proxy in front answers on; the name is what rebinding needs.
    expect(
      (await rawRequest(`${url}/api/engines`, { headers: { host: 'aggregator.lab:9001' } })).status,
    ).toBe(200);
    expect((await rawRequest(`${url}/api/engines`, { headers: { host: 'other.example' } })).status).toBe(403);
    // An Origin must be the page's own (that of the Host it asked) or a public URL's.
    const foreign = await rawRequest(`${url}/api/engines`, {
      headers: { host: 'aggregator.lab:9000', origin: 'http://aggregator.lab:9999' },
    });
    expect(foreign.status).toBe(403);
  });
});

describe('item 12: HEAD, and a runs limit out of range', () => {
  it('HEAD answers every GET route with its headers; a huge limit is 400, not 500', async () => {
    const { url } = await startAggregatorCli(start, tempDbPath());
    for (const path of [
      '/healthz',
      '/api/engines',
      '/api/runs',
      '/',
      '/api/events',
      '/api/telemetry/events',
    ]) {
      const head = await rawRequest(`${url}${path}`, { method: 'HEAD' });
      expect(head.status, path).toBe(200);
      expect(head.text, path).toBe('');
    }
    const post = await rawRequest(`${url}/healthz`, { method: 'POST' });
    expect(post).toMatchObject({ status: 405, headers: { allow: 'GET, HEAD' } });
    const huge = await rawRequest(`${url}/api/runs?limit=99999999999999999999`);
    expect(huge).toMatchObject({
      status: 400,
      json: { error: 'bad-request', message: 'limit must be a whole number from 1 to 10000' },
    });
    expect((await rawRequest(`${url}/api/runs?limit=10000`)).status).toBe(200);
  });
});
