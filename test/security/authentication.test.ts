import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator, type AggregatorEvents } from '../../src/aggregator/aggregator.ts';
import { API_TOKEN_COOKIE } from '../../src/aggregator/auth/apiAuth.ts';
import { engineTokens, hashToken } from '../../src/aggregator/auth/tokens.ts';
import { type AggregatorServer, startAggregatorServer } from '../../src/aggregator/server.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { AuthRejectedError, ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { CloseCode, ErrorCode } from '../../src/protocol/errors.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { HandEngine, samples } from '../aggregator/support.ts';
import { type CliProcess, runCli } from '../support/childProcess.ts';
import { tempDbPath } from '../support/tempDb.ts';
import { nextEvent } from '../support/until.ts';

/**
 * Who may connect and read: per-engine tokens (an engine cannot write as another), the shared-secret
 * mode, the API token, all over real sockets; and the same from the command line.
 */

const TOKENS = { 'line-1': 'tok-line-1-3f9a', 'line-2': 'tok-line-2-77c1' };
const API_TOKEN = 'api-7d2e9b';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(options: Partial<ConstructorParameters<typeof Aggregator>[0]> = {}, apiToken?: string) {
  const store = new SqliteStore(':memory:');
  const aggregator = new Aggregator({
    store,
    clock: new SimulatedClock(),
    tokens: engineTokens({ 'line-1': TOKENS['line-1'], 'line-2': hashToken(TOKENS['line-2']) }),
    ...options,
  });
  const server: AggregatorServer = await startAggregatorServer({ aggregator, port: 0, apiToken });
  cleanups.push(async () => {
    await server.close();
    await aggregator.close();
  });
  const refused: AggregatorEvents['refused'][0][] = [];
  aggregator.on('refused', (r) => refused.push(r));
  return { store, aggregator, server, refused, connector: new WebSocketConnector(server.wsUrl) };
}

describe('per-engine tokens', () => {
  it("admits each engine with its own token only: another engine's token, none, or an unlisted engine get 401", async () => {
    const { aggregator, connector, refused } = await start();
    const own = new HandEngine(connector.connect({ engineId: 'line-1', token: TOKENS['line-1'] }));
    await own.opening();
    // The hashed entry admits its engine too.
    const hashed = new HandEngine(connector.connect({ engineId: 'line-2', token: TOKENS['line-2'] }));
    await hashed.opening();

    for (const [engineId, token] of [
      ['line-1', TOKENS['line-2']],
      ['line-2', TOKENS['line-1']],
      ['line-1', undefined],
      ['line-9', TOKENS['line-1']],
      ['line-2', hashToken(TOKENS['line-2'])],
    ] as const) {
      const intruder = new HandEngine(connector.connect({ engineId, token }));
      const info = await intruder.closed();
      expect(intruder.opened).toBe(false);
      expect(info.refused?.status).toBe(401);
      expect(info.refused?.message).toMatch(new RegExp(`^invalid token for engine ${engineId}`));
    }
    expect(refused.map((r) => r.status)).toEqual([401, 401, 401, 401, 401]);
    expect(aggregator.engine('line-9')).toBeUndefined();
    // The refused attempts did not disturb the engines' own links.
    expect(own.closeInfo).toBeUndefined();
    expect(hashed.closeInfo).toBeUndefined();
  });

  it('an engine cannot write as another: a hello naming another engine closes the link (1008), storing nothing', async () => {
    const { store, connector } = await start();
    const victim = new HandEngine(connector.connect({ engineId: 'line-2', token: TOKENS['line-2'] }));
    await victim.opening();
    victim.hello('line-2', 'ep', 3);
    await victim.nth('welcome', 1);
    victim.records(1, samples(3));
    await victim.nth('ack', 1);

    const impostor = new HandEngine(connector.connect({ engineId: 'line-1', token: TOKENS['line-1'] }));
    await impostor.opening();
    impostor.hello('line-2', 'ep', 10);
    expect((await impostor.error(ErrorCode.EngineMismatch)).message).toBe(
      'hello names engine line-2, but this link was authorised for engine line-1',
    );
    expect((await impostor.closed()).code).toBe(CloseCode.PolicyViolation);
    // Records sent after the refused hello go nowhere.
    impostor.records(4, samples(3, 3));
    expect(store.records('line-2').map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(store.records('line-1')).toEqual([]);
    expect(victim.closeInfo).toBeUndefined();
  });

  it('a refused dispatcher keeps its records and retries slowly; once the aggregator learns its token, it delivers', async () => {
    const { store, aggregator, connector, refused } = await start();
    const engine = new ResilientDispatcher({
      engineId: 'line-3',
      connector,
      token: 'tok-line-3',
      rejectedRetryMs: 300,
    });
    cleanups.push(() => engine.close());
    const rejected = await nextEvent<AuthRejectedError>(engine, 'error');
    expect(rejected).toBeInstanceOf(AuthRejectedError);
    expect(rejected).toMatchObject({ status: 401, retryInMs: 300 });
    expect(engine.state).toBe('rejected');
    for (let i = 0; i < 100; i++) engine.send({ kind: 'sample', tag: 't', value: i });
    // It tries again, no sooner than it said: slowly, not hammering.
    const firstAt = Date.now();
    await nextEvent(aggregator, 'refused', () => refused.length >= 2);
    expect(Date.now() - firstAt).toBeGreaterThanOrEqual(250);
    expect(engine.stats.backlog).toBe(100);
    // The aggregator learns its token (a reloaded token file): the next attempt gets in.
    aggregator.setCredentials({
      tokens: engineTokens({ ...TOKENS, 'line-2': hashToken(TOKENS['line-2']), 'line-3': 'tok-line-3' }),
    });
    expect(await engine.drain(10_000)).toBe(true);
    expect(store.records('line-3', { epoch: engine.stats.epoch })).toHaveLength(100);
  });

  it('with a shared secret as well, the secret admits unlisted engines only', async () => {
    const { connector } = await start({ secret: 'lab-secret' });
    const unlisted = new HandEngine(connector.connect({ engineId: 'bench-7', token: 'lab-secret' }));
    await unlisted.opening();
    const listed = new HandEngine(connector.connect({ engineId: 'line-1', token: 'lab-secret' }));
    expect((await listed.closed()).refused?.status).toBe(401);
  });

  it('a reloaded token file applies to new links; links already open stay open', async () => {
    const { aggregator, connector } = await start();
    const before = new HandEngine(connector.connect({ engineId: 'line-1', token: TOKENS['line-1'] }));
    await before.opening();
    aggregator.setCredentials({ tokens: engineTokens({ 'line-1': 'rotated', 'line-3': 'new' }) });
    const old = new HandEngine(connector.connect({ engineId: 'line-2', token: TOKENS['line-2'] }));
    expect((await old.closed()).refused?.status).toBe(401);
    const added = new HandEngine(connector.connect({ engineId: 'line-3', token: 'new' }));
    await added.opening();
    expect(before.closeInfo).toBeUndefined();
  });
});

describe('shared-secret mode', () => {
  it('admits any engine with the secret and refuses a wrong one', async () => {
    const { connector } = await start({ tokens: undefined, secret: 'lab-secret' });
    const good = new HandEngine(connector.connect({ engineId: 'any-1', token: 'lab-secret' }));
    await good.opening();
    const bad = new HandEngine(connector.connect({ engineId: 'any-2', token: 'lab-secreT' }));
    expect((await bad.closed()).refused).toMatchObject({
      status: 401,
      message: 'invalid token for engine any-2',
    });
  });
});

describe('the API token', () => {
  it('guards every route but /healthz: bearer, cookie or ?token= (which sets the cookie); engine links unaffected', async () => {
    const { server, connector } = await start({}, API_TOKEN);
    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${server.url}${path}`, { headers, redirect: 'manual' });

    expect((await get('/healthz')).status).toBe(200);
    const denied = await get('/api/engines');
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer realm="engine-link"');
    expect(await denied.json()).toMatchObject({ error: 'unauthorized' });
    expect((await get('/api/engines', { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await get('/api/runs')).status).toBe(401);
    expect((await get('/api/events')).status).toBe(401);
    expect((await get('/')).status).toBe(401);
    const command = await fetch(`${server.url}/api/engines/line-1/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'stop' }),
    });
    expect(command.status).toBe(401);

    expect((await get('/api/engines', { authorization: `Bearer ${API_TOKEN}` })).status).toBe(200);
    expect((await get('/api/engines', { cookie: `other=1; ${API_TOKEN_COOKIE}=${API_TOKEN}` })).status).toBe(
      200,
    );
    const byQuery = await get(`/api/engines?token=${API_TOKEN}`);
    expect(byQuery.status).toBe(200);
    expect(byQuery.headers.get('set-cookie')).toBe(
      `${API_TOKEN_COOKIE}=${API_TOKEN}; Path=/; HttpOnly; SameSite=Strict`,
    );
    // Opening the dashboard with ?token= sets the cookie and drops the token from the address.
    const page = await get(`/?view=runs&token=${API_TOKEN}`);
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/?view=runs');
    expect(page.headers.get('set-cookie')).toMatch(new RegExp(`^${API_TOKEN_COOKIE}=${API_TOKEN};`));
    expect((await get('/', { cookie: `${API_TOKEN_COOKIE}=${API_TOKEN}` })).status).not.toBe(401);

    // Engines authenticate with their own tokens, not the API token.
    const engine = new HandEngine(connector.connect({ engineId: 'line-1', token: TOKENS['line-1'] }));
    await engine.opening();
    const withApiToken = new HandEngine(connector.connect({ engineId: 'line-2', token: API_TOKEN }));
    expect((await withApiToken.closed()).refused?.status).toBe(401);
  });
});

/** Resolves once the process's standard error (so far or to come) matches `pattern`. */
function stderrMatching(p: CliProcess, pattern: RegExp): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!pattern.test(p.stderr())) return;
      p.child.stderr.off('data', check);
      resolve();
    };
    p.child.stderr.on('data', check);
    check();
  });
}

describe('from the command line', () => {
  const running: CliProcess[] = [];
  afterEach(async () => {
    for (const p of running.splice(0))
      if (p.child.exitCode === null) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
  });

  it('--tokens FILE and --api-token: engines with their token deliver, others are refused, the API wants its token', async () => {
    const db = tempDbPath();
    const tokensFile = join(dirname(db), 'tokens.txt');
    writeFileSync(
      tokensFile,
      `# engines of line A\ncli-1 ${TOKENS['line-1']}\ncli-2 ${hashToken(TOKENS['line-2'])}\n`,
    );
    const aggregator = runCli([
      'aggregator',
      ...['--port', '0', '--db', db, '--log-level', 'warn'],
      ...['--tokens', tokensFile, '--api-token', API_TOKEN],
    ]);
    running.push(aggregator);
    const url = /listening on (http:\/\/[^\s]+)/.exec(await aggregator.waitForLine(/listening on/))![1]!;
    const ws = url.replace('http', 'ws');
    const engine = (id: string, secret: string) => {
      const p = runCli([
        'engine',
        '--aggregator',
        ws,
        '--id',
        id,
        '--secret',
        secret,
        '--simulate',
        '--rate',
        '200',
      ]);
      running.push(p);
      return p;
    };
    engine('cli-1', TOKENS['line-1']);
    engine('cli-2', TOKENS['line-2']);
    const impostor = engine('cli-1', TOKENS['line-2']);

    const api = async <T>(path: string) => {
      const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      expect(response.status).toBe(200);
      return (await response.json()) as T;
    };
    // Poll the API (bounded by the test timeout) until both engines have persisted records.
    for (;;) {
      const engines = await api<Array<{ id: string; persistedSeq: number }>>('/api/engines');
      if (engines.filter((e) => e.persistedSeq > 50).length === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await fetch(`${url}/api/engines`)).status).toBe(401);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // The impostor (cli-1 with cli-2's token) was refused and says so.
    await stderrMatching(impostor, /the aggregator refused engine cli-1 \(401/);
    expect(impostor.stderr()).toMatch(/check --secret .*The engine keeps running and keeps every record/);
  });

  it('refuses a token file it cannot read, and --cert without --key, with a usage error', async () => {
    const db = tempDbPath();
    const bad = join(dirname(db), 'bad-tokens.txt');
    writeFileSync(bad, 'cli-1 tok extra\n');
    const p = runCli(['aggregator', '--port', '0', '--db', db, '--tokens', bad]);
    running.push(p);
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(/bad-tokens\.txt: line 1: expected "engineId token", got 3 fields/);
    const q = runCli(['aggregator', '--port', '0', '--db', db, '--cert', bad]);
    running.push(q);
    expect(await q.exited).toBe(2);
    expect(q.stderr()).toMatch(/--cert needs --key/);
  });
});
