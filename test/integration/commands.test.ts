import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { type AggregatorServer, startAggregatorServer } from '../../src/aggregator/server.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { SimulatedEngine } from '../../src/engine/simulatedEngine.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { until } from '../support/until.ts';

/**
 * The command gate, over the HTTP API: commands reach only an available engine, run at most once per
 * id, and every other outcome (refused, unknown, timed out, failed) is a clear answer, never a silent queue.
 */
interface Rig {
  clock: SimulatedClock;
  network: MemoryNetwork;
  aggregator: Aggregator;
  server: AggregatorServer;
  engine: ResilientDispatcher;
  sim: SimulatedEngine;
  handled: string[];
}
const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) {
    r.sim.stop();
    await r.engine.close();
    await r.server.close();
    await r.aggregator.close();
  }
});

async function rig(): Promise<Rig> {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  const aggregator = new Aggregator({ store: new SqliteStore(':memory:'), clock, commandTimeoutMs: 5000 });
  network.listen(aggregator);
  const server = await startAggregatorServer({ aggregator, port: 0 });
  const engine = new ResilientDispatcher({ engineId: 'cmd-1', connector: network, clock, random: () => 0 });
  const sim = new SimulatedEngine(engine, { rate: 10, clock });
  const handled: string[] = [];
  engine.handleCommands((command) => {
    handled.push(command.id);
    return sim.handleCommand(command);
  });
  const r = { clock, network, aggregator, server, engine, sim, handled };
  rigs.push(r);
  await until('available', () => aggregator.engine('cmd-1')?.link === 'available', clock);
  return r;
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;

/** Posts a command and lets simulated time run until the HTTP answer arrives. */
async function post(r: Rig, body: unknown, engineId = 'cmd-1'): Promise<{ status: number; body: Body }> {
  const response = fetch(`${r.server.url}/api/engines/${engineId}/commands`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  let settled: { status: number; body: Body } | undefined;
  response.then(async (res) => {
    settled = { status: res.status, body: await res.json() };
  });
  await until('an HTTP answer', () => settled !== undefined, r.clock, { stepMs: 1 });
  return settled!;
}

describe('commands', () => {
  it('runs a command and returns its result', async () => {
    const r = await rig();
    const answer = await post(r, { name: 'start', args: { method: 'titration' }, id: 'c1' });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ id: 'c1', engineId: 'cmd-1', ok: true });
    expect(answer.body.result.runId).toMatch(/^cmd-1-/);
    await until('run persisted', () => r.aggregator.engine('cmd-1')?.currentRun !== null, r.clock);
    expect(r.aggregator.engine('cmd-1')?.currentRun?.method).toBe('titration');
  });

  it('generates an id when none is given', async () => {
    const r = await rig();
    const answer = await post(r, { name: 'ping' });
    expect(answer.status).toBe(200);
    expect(answer.body.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('executes a retried id exactly once and answers the repeat with the first result', async () => {
    const r = await rig();
    const first = await post(r, { name: 'start', id: 'same' });
    const again = await post(r, { name: 'start', id: 'same' });
    expect(first.status).toBe(200);
    expect(again).toEqual(first);
    expect(r.handled).toEqual(['same']);
    // A different id really runs, and is refused by the engine: a run is going.
    const other = await post(r, { name: 'start', id: 'other' });
    expect(other.status).toBe(422);
    expect(other.body).toMatchObject({ error: 'command-failed', code: 'already-running' });
  });

  it('refuses commands to an unavailable engine at once with 409 engine-unavailable', async () => {
    const r = await rig();
    r.network.refuseConnects();
    r.network.closeAll();
    await until('unavailable', () => r.aggregator.engine('cmd-1')?.link === 'unavailable', r.clock);
    const since = r.aggregator.engine('cmd-1')!.since;
    const answer = await post(r, { name: 'ping', id: 'p1' });
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ error: 'engine-unavailable', engineId: 'cmd-1', since, id: 'p1' });
    // Not queued: when the engine comes back, nothing runs by itself.
    r.network.refuseConnects(false);
    await until('available', () => r.aggregator.engine('cmd-1')?.link === 'available', r.clock);
    await r.clock.advance(1000);
    expect(r.handled).toEqual([]);
  });

  it('refuses commands while the engine is catching up with 409 engine-catching-up', async () => {
    const r = await rig();
    r.network.refuseConnects();
    r.network.closeAll();
    await until('unavailable', () => r.aggregator.engine('cmd-1')?.link === 'unavailable', r.clock);
    for (let i = 0; i < 20_000; i++) r.engine.send({ kind: 'sample', tag: 'T', value: i });
    r.network.delayMs = 20;
    r.network.refuseConnects(false);
    await until('catching up', () => r.aggregator.engine('cmd-1')?.link === 'catching-up', r.clock, {
      stepMs: 1,
    });
    const answer = await post(r, { name: 'ping' });
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ error: 'engine-catching-up', engineId: 'cmd-1' });
    expect(r.handled).toEqual([]);
  });

  it('reports outcome-unknown when the link dies before the answer; the retry with the same id does not run it again', async () => {
    const r = await rig();
    // The answer is lost on the way back: the link dies right after the command reaches the engine.
    r.engine.handleCommands((command) => {
      r.handled.push(command.id);
      r.network.closeAll();
      return { done: command.name };
    });
    const lost = await post(r, { name: 'ping', id: 'c9' });
    expect(lost.status).toBe(502);
    expect(lost.body).toMatchObject({ error: 'outcome-unknown', id: 'c9', engineId: 'cmd-1' });
    await until('available again', () => r.aggregator.engine('cmd-1')?.link === 'available', r.clock);
    const retry = await post(r, { name: 'ping', id: 'c9' });
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ id: 'c9', ok: true, result: { done: 'ping' } });
    expect(r.handled).toEqual(['c9']);
  });

  it('times out a command the engine does not answer, with a clear error, and keeps the link', async () => {
    const r = await rig();
    r.engine.handleCommands(() => new Promise(() => {}));
    const answer = await post(r, { name: 'ping', id: 'slow' });
    expect(answer.status).toBe(504);
    expect(answer.body).toMatchObject({ error: 'command-timeout', id: 'slow' });
    expect(answer.body.message).toMatch(/within 5000 ms/);
    expect(r.aggregator.engine('cmd-1')?.link).toBe('available');
  });

  it('answers unknown commands, unknown engines and bad requests clearly', async () => {
    const r = await rig();
    const unknown = await post(r, { name: 'launch' });
    expect(unknown.status).toBe(422);
    expect(unknown.body).toMatchObject({ code: 'unknown-command' });
    expect(unknown.body.message).toMatch(/start, stop, pause, resume, ping/);
    expect((await post(r, { name: 'ping' }, 'nobody')).body).toEqual({
      error: 'unknown-engine',
      engineId: 'nobody',
    });
    const bad = await post(r, { args: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/name/);
  });
});
