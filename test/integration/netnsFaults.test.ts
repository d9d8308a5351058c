import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, spawnCli, stopCli } from '../../src/faults/cliProcess.ts';
import { NetnsLab, netnsUnavailableReason } from '../../src/faults/netnsLab.ts';
import { waitFor } from '../../src/faults/waitFor.ts';
import {
  type EngineFinal,
  type EngineStart,
  parseEngineLine,
  type RunLine,
} from '../../src/soak/engineLines.ts';
import { compareRuns, expectedRuns, type RunView } from '../../src/soak/expectedRuns.ts';
import { auditStore } from '../../src/soak/storeAudit.ts';

/**
 * Real processes, real sockets, real kernel faults: the aggregator in one network namespace, each engine
 * in its own, joined by veth pairs. Links go down, black holes swallow packets (half-open: no FIN, no RST),
 * tbf slows a link while nftables drops a share of its packets; every record each engine produced is
 * persisted exactly once and in order, and its runs end up as they happened.
 *
 * Needs root, iproute2 and nftables (CI installs them). Where namespaces cannot be made, every test here
 * fails with the reason: never a silent skip.
 */
const unavailable = netnsUnavailableReason(['namespaces', 'shape', 'loss']);
let lab: NetnsLab;
let aggregator: CliProcess;
let api: string;
let port: number;
const db = join(mkdtempSync(join(tmpdir(), 'engine-link-netns-')), 'aggregator.db');
const engines: CliProcess[] = [];

beforeAll(async () => {
  if (unavailable)
    throw new Error(`network namespace fault tests cannot run on this machine: ${unavailable}`);
  lab = NetnsLab.create(3);
  aggregator = spawnCli(
    ['aggregator', '--host', '0.0.0.0', '--port', '0', '--db', db, '--log-level', 'warn'],
    {
      prefix: lab.exec(lab.aggregatorNamespace),
    },
  );
  const line = await aggregator.waitForLine(/listening on/);
  port = Number(/:(\d+) /.exec(line)![1]);
  api = `http://${lab.managementAddress}:${port}`;
  await waitFor(
    'the aggregator answers on the management link',
    async () => (await fetch(`${api}/healthz`)).ok,
  );
});

afterAll(async () => {
  for (const engine of engines) await stopCli(engine, 'SIGKILL');
  if (aggregator) await stopCli(aggregator);
  lab?.destroy();
});

interface EngineView {
  id: string;
  link: string;
  epoch: string;
  persistedSeq: number;
  persistedCount: number;
}

async function engineView(id: string): Promise<EngineView | undefined> {
  const response = await fetch(`${api}/api/engines/${id}`);
  return response.ok ? ((await response.json()) as EngineView) : undefined;
}

function startEngine(index: number, id: string, extra: string[] = []): CliProcess {
  const host = lab.engine(index);
  const outbox = mkdtempSync(join(tmpdir(), `engine-link-outbox-${id}-`));
  const engine = spawnCli(
    [
      'engine',
      '--aggregator',
      `ws://${host.aggregatorAddress}:${port}`,
      '--id',
      id,
      '--simulate',
      '--run-seconds',
      '1',
      '--fail-every',
      '3',
      '--outbox',
      outbox,
      '--outbox-sync',
      'always',
      '--print-runs',
      '--progress-ms',
      '50',
      '--log-level',
      'warn',
      ...extra,
    ],
    { prefix: lab.exec(host.namespace) },
  );
  engines.push(engine);
  return engine;
}

/** The engine's newest progress line. */
function progress(engine: CliProcess) {
  for (let i = engine.lines.length - 1; i >= 0; i--) {
    const line = parseEngineLine(engine.lines[i]!);
    if (line?.type === 'progress') return line.progress;
  }
  return undefined;
}

/** Stops the engine (SIGTERM: it drains), then checks every record and run against the aggregator. */
async function stopAndVerify(engine: CliProcess, id: string): Promise<EngineFinal> {
  await waitFor(`${id} is persisted up to what it produced`, async () => {
    const view = await engineView(id);
    const p = progress(engine);
    return view && p && view.link === 'available' && view.persistedSeq >= p.lastSeq;
  });
  expect(await stopCli(engine)).toBe(0);
  const parsed = engine.lines.map(parseEngineLine);
  const start = parsed.find((l) => l?.type === 'start') as { start: EngineStart } | undefined;
  const finalLine = parsed.find((l) => l?.type === 'final') as { final: EngineFinal } | undefined;
  const runs = parsed.flatMap((l) => (l?.type === 'run' ? [l.run] : [])) as RunLine[];
  expect(start, 'the engine printed its start line').toBeDefined();
  expect(finalLine, `the engine printed its final line\n${engine.stderr()}`).toBeDefined();
  const final = finalLine!.final;
  // The engine: everything it produced acknowledged as persisted, nothing dropped.
  expect(final).toMatchObject({ engineId: id, dropped: 0, backlog: 0, acked: final.lastSeq });
  expect(final.produced).toBe(final.lastSeq);
  // The aggregator: every sequence number once, nothing else.
  const view = await waitFor(`${id} shows offline`, async () => {
    const v = await engineView(id);
    return v?.link === 'offline' ? v : undefined;
  });
  expect(view).toMatchObject({
    epoch: final.epoch,
    persistedSeq: final.lastSeq,
    persistedCount: final.lastSeq,
  });
  const audit = await auditStore(db, id, final.epoch, final.lastSeq);
  expect(audit).toMatchObject({
    epochs: 1,
    missing: 0,
    extra: 0,
    duplicates: 0,
    outOfOrder: 0,
    gapRecords: 0,
  });
  expect(audit.persisted).toBe(final.lastSeq);
  // Runs: each as it happened on the engine (the one cut short by the stop stays unconfirmed).
  const expected = expectedRuns(
    [{ epoch: final.epoch, startSeq: start!.start.lastSeq, runs, end: 'stopped' }],
    final.lastSeq,
    audit.runEvents,
  );
  expect(expected.problems).toEqual([]);
  expect(expected.runs.filter((r) => r.state === 'completed').length).toBeGreaterThan(0);
  const actual = (await (await fetch(`${api}/api/runs?engine=${id}`)).json()) as RunView[];
  expect(compareRuns(expected.runs, actual)).toEqual([]);
  return final;
}

describe.sequential('real network faults (network namespaces)', () => {
  it('link down and up, twice: both sides notice, the backlog catches up, every record once and in order', async () => {
    const id = 'ns-linkdown';
    const engine = startEngine(0, id);
    await waitFor('records flow', async () => ((await engineView(id))?.persistedSeq ?? 0) > 200);
    for (let round = 0; round < 2; round++) {
      await waitFor('the engine is connected', () => progress(engine)?.state === 'connected');
      lab.linkDown(0);
      await waitFor('the aggregator shows the engine unavailable', async () => {
        return (await engineView(id))?.link === 'unavailable';
      });
      await waitFor('the engine buffers', () => progress(engine)?.state.startsWith('buffering'));
      // Let a run or two start and end while the link is down.
      const downAt = progress(engine)!.lastSeq;
      await waitFor('the engine produces offline', () => progress(engine)!.lastSeq > downAt + 200);
      lab.linkUp(0);
      await waitFor('the engine is back and caught up', async () => {
        const view = await engineView(id);
        return view?.link === 'available' && view.persistedSeq >= downAt + 200;
      });
    }
    await stopAndVerify(engine, id);
  }, 120_000);

  it('black hole (half-open, no FIN, no RST): both sides detect it within their heartbeat timeouts', async () => {
    const id = 'ns-blackhole';
    // Default heartbeats: the aggregator pings every 1 s and gives up after 3 s; the engine after 3 s.
    const engine = startEngine(1, id);
    await waitFor('records flow', async () => ((await engineView(id))?.persistedSeq ?? 0) > 200);
    const detections: Array<{ aggregatorMs: number; engineMs: number }> = [];
    for (let round = 0; round < 2; round++) {
      // Its progress lines (every 50 ms) must say connected before, so that "buffering" is news.
      await waitFor('the engine is connected', () => progress(engine)?.state === 'connected');
      const at = Date.now();
      lab.blackhole(1);
      const [aggregatorMs, engineMs] = await Promise.all([
        waitFor('the aggregator shows the engine unavailable', async () =>
          (await engineView(id))?.link === 'unavailable' ? Date.now() - at : undefined,
        ),
        waitFor('the engine gives the link up', () =>
          progress(engine)?.state.startsWith('buffering') ? Date.now() - at : undefined,
        ),
      ]);
      detections.push({ aggregatorMs, engineMs });
      const lastSeq = progress(engine)!.lastSeq;
      lab.unblackhole(1);
      await waitFor('the engine reconnects and catches up', async () => {
        const view = await engineView(id);
        return view?.link === 'available' && view.persistedSeq >= lastSeq;
      });
    }
    for (const { aggregatorMs, engineMs } of detections) {
      // Nothing told either side: no detection before the timeouts (a FIN or RST would be told at
      // once). The 3 s count from the last frame heard, which may be up to a ping interval (1 s)
      // before the black hole; CI once measured 2,499 ms against a bound of 2,500.
      expect(aggregatorMs).toBeGreaterThanOrEqual(2000);
      expect(engineMs).toBeGreaterThanOrEqual(2000);
      // ... and both at them: 3 s after the last frame heard, plus polling (50 ms) and timer lateness
      // on a busy 2-core machine (measured 3.05-3.3 s idle, up to 3.9 s with other test suites running).
      expect(aggregatorMs).toBeLessThanOrEqual(4000);
      expect(engineMs).toBeLessThanOrEqual(4000);
    }
    await stopAndVerify(engine, id);
  }, 120_000);

  it('a slow link (tbf) that drops 5 % of its packets each way (nftables): nothing lost, nothing twice', async () => {
    const id = 'ns-shaped';
    const engine = startEngine(2, id, ['--rate', '300']);
    await waitFor('records flow', async () => ((await engineView(id))?.persistedSeq ?? 0) > 200);
    lab.shape(2, { rateKbit: 96, latencyMs: 400 });
    lab.loss(2, 5);
    const shapedAt = progress(engine)!.lastSeq;
    let lag = 0;
    await waitFor('1,500 records produced through the slow, lossy link', () => {
      const p = progress(engine)!;
      lag = Math.max(lag, p.lastSeq - p.acked);
      return p.lastSeq > shapedAt + 1500;
    });
    // The link really was slower than the engine: a backlog built up.
    expect(lag).toBeGreaterThan(200);
    lab.heal(2);
    await stopAndVerify(engine, id);
  }, 120_000);
});
