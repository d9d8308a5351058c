import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { waitFor } from '../../../src/faults/waitFor.ts';
import { AggregatorSlot } from '../../../src/soak/aggregatorSlot.ts';
import { checkEngine, type EngineView } from '../../../src/soak/engineCheck.ts';
import { EngineSlot, type EngineSlotOptions } from '../../../src/soak/engineSlot.ts';
import type { RunView } from '../../../src/soak/expectedRuns.ts';
import { seededRandom } from '../../support/seededRandom.ts';

/** A port nobody listens on now (found by listening on port 0, then letting it go). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

/**
 * The programs of a process test, each an OS process started through the CLI, as a user runs them: one
 * aggregator (the soak's AggregatorSlot: SIGKILL and restart on the same store and port) and simulated
 * engines (the soak's EngineSlot: each with its fault proxy, restarted after SIGKILL). Their logs and the
 * store stay in `dir`. `finish()` stops everything and checks the store against what the engines printed.
 */
export class ProcessWorld {
  readonly dir = mkdtempSync(join(tmpdir(), 'engine-link-process-'));
  readonly logDir = join(this.dir, 'logs');
  readonly aggregator: AggregatorSlot;
  readonly engines: EngineSlot[] = [];
  private readonly random = seededRandom(12);

  /** `db`: what the aggregator's --db names (default: a SQLite file in the work directory). */
  constructor(aggregatorArgs: readonly string[] = [], db?: string) {
    mkdirSync(this.logDir, { recursive: true });
    this.aggregator = new AggregatorSlot(db ?? join(this.dir, 'aggregator.db'), this.logDir, aggregatorArgs);
  }

  /** A file in the work directory. */
  file(name: string, text: string): string {
    const path = join(this.dir, name);
    writeFileSync(path, text);
    return path;
  }

  /**
   * An engine slot, its proxy open, not started. By default: 200 samples/s, methods of 1 s (every third
   * fails), an outbox in memory (`durable`: on disk), no progress lines (nothing holds the process but the
   * engine itself), through its fault proxy.
   */
  async engine(
    id: string,
    options: Partial<Omit<EngineSlotOptions, 'id' | 'outboxDir'>> & { durable?: boolean } = {},
  ): Promise<EngineSlot> {
    const { durable, ...rest } = options;
    const slot = new EngineSlot(
      {
        id,
        logDir: this.logDir,
        rate: 200,
        runSeconds: 1,
        failEvery: 3,
        random: this.random,
        progressMs: 0,
        ...(durable ? { outboxDir: join(this.dir, `${id}.outbox`) } : {}),
        ...rest,
      },
      this.aggregator.port,
    );
    await slot.openProxy();
    this.engines.push(slot);
    return slot;
  }

  api<T>(path: string): Promise<T> {
    return getJson<T>(`${this.aggregator.url}${path}`);
  }

  /** Resolves once the aggregator shows the engine `link` with at least `persistedSeq` of its current epoch. */
  until(
    what: string,
    id: string,
    test: (view: EngineView) => boolean,
    timeoutMs = 30_000,
  ): Promise<EngineView> {
    return waitFor(
      `${id}: ${what}`,
      async () => {
        this.expectAlive();
        const view = (await this.api<EngineView[]>('/api/engines')).find((v) => v.id === id);
        return view && test(view) ? view : undefined;
      },
      { timeoutMs, intervalMs: 100 },
    );
  }

  /** Every engine process that was started is still running: one that ended by itself fails the test. */
  expectAlive(): void {
    for (const slot of this.engines) {
      const exit = slot.unexpectedExit;
      if (exit)
        throw new Error(
          `engine ${slot.id} exited by itself (code ${exit.code}, signal ${exit.signal}); its log:\n${exit.log.slice(-6000)}`,
        );
    }
  }

  /**
   * Stops the engines (SIGTERM: each drains and prints its final line), reads their runs, stops the
   * aggregator, then checks each engine's epochs in the store against what its processes printed:
   * produced = persisted, nothing twice, nothing out of order, every run as the engine ran it (none left
   * active or unconfirmed that it no longer runs).
   */
  async finish(): Promise<void> {
    this.expectAlive();
    for (const slot of this.engines) slot.proxy.restore();
    await Promise.all(this.engines.map((slot) => slot.stop()));
    const views = await waitFor(
      'every engine shows offline',
      async () => {
        const all = await this.api<EngineView[]>('/api/engines');
        return this.engines.every((slot) => all.find((v) => v.id === slot.id)?.link === 'offline')
          ? all
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    // An engine that went offline has no active run: what the run ledger makes of the goodbye is
    // committed after the link state is shown (a round trip later on PostgreSQL).
    const runs = await waitFor(
      'no run of an offline engine is active',
      async () => {
        const all = new Map<string, RunView[]>();
        for (const slot of this.engines)
          all.set(slot.id, await this.api<RunView[]>(`/api/runs?engine=${slot.id}`));
        return [...all.values()].every((list) => list.every((run) => run.state !== 'active'))
          ? all
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(await this.aggregator.stop(), 'the aggregator exits 0 on SIGTERM').toBe(0);
    for (const slot of this.engines) {
      const row = await checkEngine(
        slot,
        views.find((v) => v.id === slot.id),
        runs.get(slot.id) ?? [],
        this.aggregator.dbPath,
      );
      expect(row.differences, `${slot.id} (logs in ${this.logDir})`).toEqual([]);
      expect(row.produced, slot.id).toBeGreaterThan(0);
    }
  }

  /** Kills whatever still runs and closes the proxies (after a failure too). */
  async cleanup(): Promise<void> {
    for (const slot of this.engines) {
      await slot.kill();
      await slot.proxy.close();
    }
    await this.aggregator.kill();
  }
}
