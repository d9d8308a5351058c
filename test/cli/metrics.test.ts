import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/faults/waitFor.ts';
import { GAP_REASONS } from '../../src/protocol/records.ts';
import { FaultProxy } from '../../src/transport/faultProxy.ts';
import { freePort } from '../process/support/world.ts';
import { cliProcesses, startAggregatorCli } from '../support/childProcess.ts';
import { checkHistogram, type Family, parsePrometheusText } from '../support/prometheusText.ts';

/**
 * Prometheus metrics as operators scrape them: the aggregator (`GET /metrics`, behind its API token) and
 * an engine (`--metrics-port`), each an OS process started through the CLI, the engine's link carried by
 * the fault proxy so that it drops and comes back. Both expositions are parsed as a scraper would.
 */
const cli = cliProcesses();
const proxies: FaultProxy[] = [];
afterEach(async () => {
  for (const proxy of proxies.splice(0)) await proxy.close();
});

const TOKEN = 'tok-metrics';
const auth = { authorization: `Bearer ${TOKEN}` };
/** The labels engine-link's metrics may carry: the engine id is the only per-engine one. */
const ALLOWED_LABELS = new Set([
  'engine',
  'link',
  'reason',
  'outcome',
  'status',
  'code',
  'state',
  'epoch',
  'le',
]);

async function scrape(url: string, headers: Record<string, string> = {}): Promise<Map<string, Family>> {
  const response = await fetch(url, { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await response.text());
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name);
  if (!family) throw new Error(`no metric ${name}`);
  const sample = family.samples.find((s) =>
    Object.entries(labels).every(([label, wanted]) => s.labels[label] === wanted),
  );
  if (!sample) throw new Error(`no sample of ${name} with ${JSON.stringify(labels)}`);
  return sample.value;
}

/** engine-link's own families: Prometheus naming, base units, bounded labels. */
function checkNaming(families: Map<string, Family>): string[] {
  const own = [...families.values()].filter((family) => family.name.startsWith('engine_link_'));
  for (const family of own) {
    if (family.type === 'counter') expect(family.name, family.name).toMatch(/_total$/);
    else expect(family.name, family.name).not.toMatch(/_total$/);
    expect(family.name, family.name).not.toMatch(/_(ms|milliseconds|kb|mb|minutes)(_|$)/);
    if (family.type === 'histogram') checkHistogram(family);
    for (const sample of family.samples)
      for (const label of Object.keys(sample.labels))
        expect(ALLOWED_LABELS, `${family.name} ${label}`).toContain(label);
  }
  return own.map((family) => family.name);
}

/** The metric names the README's Metrics section lists. */
function readmeMetrics(): Set<string> {
  const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('\n## Metrics'),
    readme.indexOf('\n## ', readme.indexOf('\n## Metrics') + 1),
  );
  return new Set([...section.matchAll(/^\| `(engine_link_[a-z_]+)`/gm)].map((m) => m[1]!));
}

describe('Prometheus metrics', () => {
  it('the aggregator (GET /metrics, behind --api-token) and the engine (--metrics-port), scraped from their processes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'engine-link-metrics-'));
    writeFileSync(join(dir, 'api.token'), TOKEN);
    const aggregator = await startAggregatorCli(cli.start, join(dir, 'aggregator.db'), [
      '--api-token-file',
      join(dir, 'api.token'),
    ]);
    const port = Number(new URL(aggregator.url).port);
    const proxy = new FaultProxy({ host: '127.0.0.1', port });
    proxies.push(proxy);
    const via = await proxy.start();
    const metricsPort = await freePort();
    const engine = cli.start([
      'engine',
      '--aggregator',
      `ws://127.0.0.1:${via.port}`,
      '--id',
      'metrics-1',
      '--simulate',
      '--rate',
      '300',
      '--outbox',
      join(dir, 'outbox'),
      '--metrics-port',
      String(metricsPort),
      '--log-level',
      'warn',
    ]);
    const engineView = async () => {
      const response = await fetch(`${aggregator.url}/api/engines/metrics-1`, { headers: auth });
      return response.status === 200
        ? ((await response.json()) as { link: string; persistedSeq: number })
        : undefined;
    };
    await waitFor('the engine is available with records persisted', async () => {
      const view = await engineView();
      return view?.link === 'available' && view.persistedSeq >= 300;
    });
    const ping = await fetch(`${aggregator.url}/api/engines/metrics-1/commands`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ping' }),
    });
    expect(ping.status).toBe(200);
    // The link drops (RST) and comes back: a retry on the engine, a reconnect at the aggregator.
    proxy.reset();
    const aggregatorMetrics = `${aggregator.url}/metrics`;
    await waitFor('the aggregator counts the reconnect, and the engine is available again', async () => {
      const families = await scrape(aggregatorMetrics, auth);
      const view = await engineView();
      return (
        value(families, 'engine_link_engine_reconnects_total', { engine: 'metrics-1' }) >= 1 &&
        view?.link === 'available'
      );
    });

    // Without the token: 401, like the rest of the API.
    expect((await fetch(aggregatorMetrics)).status).toBe(401);

    const a = await scrape(aggregatorMetrics, auth);
    const aggregatorNames = checkNaming(a);
    expect(value(a, 'engine_link_engines', { link: 'available' })).toBe(1);
    for (const link of ['catching-up', 'unavailable', 'offline'])
      expect(value(a, 'engine_link_engines', { link })).toBe(0);
    const persisted = value(a, 'engine_link_engine_persisted_seq', { engine: 'metrics-1' });
    expect(persisted).toBeGreaterThanOrEqual(300);
    expect(value(a, 'engine_link_engine_target_seq', { engine: 'metrics-1' })).toBeGreaterThan(0);
    expect(value(a, 'engine_link_engine_seconds_since_last_seen', { engine: 'metrics-1' })).toBeLessThan(5);
    expect(value(a, 'engine_link_records_ingested_total')).toBeGreaterThanOrEqual(persisted);
    expect(value(a, 'engine_link_duplicates_ignored_total')).toBeGreaterThanOrEqual(0);
    for (const reason of GAP_REASONS) {
      expect(value(a, 'engine_link_gaps_total', { reason })).toBe(0);
      expect(value(a, 'engine_link_gap_records_total', { reason })).toBe(0);
    }
    expect(checkHistogram(a.get('engine_link_commit_duration_seconds')!).count).toBeGreaterThan(0);
    const groups = checkHistogram(a.get('engine_link_commit_group_frames')!);
    expect(groups.sum).toBeGreaterThanOrEqual(groups.count);
    expect(value(a, 'engine_link_commit_failures_total')).toBe(0);
    expect(value(a, 'engine_link_commands_total', { outcome: 'ok' })).toBe(1);
    expect(value(a, 'engine_link_links_refused_total', { status: '401' })).toBe(0);
    expect(a.get('engine_link_protocol_errors_total')?.type).toBe('counter');
    // The process's own metrics are there too.
    expect(value(a, 'process_cpu_seconds_total')).toBeGreaterThan(0);

    const e = await scrape(`http://127.0.0.1:${metricsPort}/metrics`);
    const engineNames = checkNaming(e);
    expect(value(e, 'engine_link_engine_info', { engine: 'metrics-1' })).toBe(1);
    expect(value(e, 'engine_link_link_state', { state: 'connected' })).toBe(1);
    expect(e.get('engine_link_link_state')!.samples.reduce((sum, s) => sum + s.value, 0)).toBe(1);
    expect(value(e, 'engine_link_link_retries_total')).toBeGreaterThanOrEqual(1);
    expect(value(e, 'engine_link_records_produced_total')).toBeGreaterThanOrEqual(persisted);
    expect(value(e, 'engine_link_outbox_records')).toBeGreaterThanOrEqual(0);
    expect(value(e, 'engine_link_outbox_bytes')).toBeGreaterThanOrEqual(0);
    expect(value(e, 'engine_link_outbox_oldest_unacknowledged_age_seconds')).toBeLessThan(5);
    expect(value(e, 'engine_link_outbox_last_seq')).toBeGreaterThanOrEqual(
      value(e, 'engine_link_outbox_acknowledged_seq'),
    );
    for (const reason of GAP_REASONS)
      expect(value(e, 'engine_link_records_dropped_total', { reason })).toBe(0);
    expect(checkHistogram(e.get('engine_link_outbox_sync_duration_seconds')!).count).toBeGreaterThan(0);
    expect(value(e, 'process_resident_memory_bytes')).toBeGreaterThan(0);

    // The engine stops; a command to it now is refused at once (409), and counted so.
    engine.child.kill('SIGTERM');
    await engine.waitForLine(/"lastSeq"/);
    await waitFor('the engine is offline', async () => (await engineView())?.link === 'offline');
    const refused = await fetch(`${aggregator.url}/api/engines/metrics-1/commands`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ping' }),
    });
    expect(refused.status).toBe(409);
    const after = await scrape(aggregatorMetrics, auth);
    expect(value(after, 'engine_link_commands_total', { outcome: 'engine-unavailable' })).toBe(1);
    expect(value(after, 'engine_link_engines', { link: 'offline' })).toBe(1);

    // The README lists every metric, and no metric that is not there.
    expect(readmeMetrics()).toEqual(new Set([...aggregatorNames, ...engineNames]));
  }, 90_000);
});
