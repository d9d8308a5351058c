import { afterEach, describe, expect, it } from 'vitest';
import { spawnCli } from '../../src/faults/cliProcess.ts';
import { waitFor } from '../../src/faults/waitFor.ts';
import { freshDatabase } from '../support/postgres.ts';
import { type FleetEngineView, FleetWorld } from './support/fleetWorld.ts';

/**
 * A fleet of aggregators on one PostgreSQL, every program an OS process started through the CLI, over
 * real sockets: three nodes (`--node-id`, leases of 3 s renewed every second), twelve engines each given
 * every node's URL. The node holding some of them is SIGKILLed: its engines re-home to the others within
 * 10 s, commands for them during the gap are refused with 409 by the nodes still up, and at the end the
 * store holds every record each engine says it produced, once and in order, with every run as the engine
 * ran it (runs that started on the dead node end on another).
 */
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('a fleet of three aggregators on PostgreSQL', () => {
  it('SIGKILL the node holding a third of twelve engines: they re-home within 10 s, commands in the gap get 409, every record stored once, in order', async () => {
    const w = new FleetWorld(await freshDatabase('fleet'), ['node-a', 'node-b', 'node-c']);
    cleanups.push(() => w.cleanup());
    await w.startNodes();
    for (let i = 1; i <= 12; i++) await w.engine(`fleet-${String(i).padStart(2, '0')}`);
    const ids = w.engines.map((slot) => slot.id);

    // Every engine is held by one node and delivering; any node lists all twelve with their nodes.
    const owners = await waitFor(
      'every engine held and delivering',
      async () => {
        w.expectAlive();
        const [held, marks] = [await w.owners(), await w.marks()];
        return ids.every((id) => held.has(id) && (marks.get(id) ?? 0) > 50) ? held : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    for (const name of w.nodes.keys()) {
      const shown = await waitFor(`${name} shows every engine with its node`, async () => {
        const views = await w.api<FleetEngineView[]>(name, '/api/engines');
        const all = ids.every((id) => views.find((v) => v.id === id)?.node === owners.get(id));
        return all ? views : undefined;
      });
      expect(shown.filter((v) => ids.includes(v.id))).toHaveLength(12);
    }
    // A command through a node that does not hold the engine reaches it through its owner.
    const someone = ids[0]!;
    const elsewhere = [...w.nodes.keys()].find((name) => name !== owners.get(someone))!;
    expect(await w.command(elsewhere, someone)).toMatchObject({ status: 200, body: { ok: true } });

    // The node holding the most engines dies.
    const count = (node: string) => ids.filter((id) => owners.get(id) === node).length;
    const victim = [...w.nodes.keys()].sort((a, b) => count(b) - count(a))[0]!;
    const moved = ids.filter((id) => owners.get(id) === victim);
    const survivor = [...w.nodes.keys()].find((name) => name !== victim)!;
    expect(moved.length).toBeGreaterThanOrEqual(4);
    const events = await w.watchEvents(survivor);
    cleanups.push(() => events.close());
    const before = await w.marks();
    await w.node(victim).kill();
    const killedAt = Date.now();

    // During the gap, a command for one of them is refused at once, whichever node is asked.
    const gap = await w.command(survivor, moved[0]!);
    expect(gap.status, JSON.stringify(gap.body)).toBe(409);
    expect(gap.body).toMatchObject({ error: 'engine-unavailable' });

    await waitFor(
      `the ${moved.length} engines of ${victim} held by another node and delivering again`,
      async () => {
        w.expectAlive();
        const [held, marks] = [await w.owners(), await w.marks()];
        return moved.every(
          (id) => held.has(id) && held.get(id) !== victim && marks.get(id)! > before.get(id)! + 20,
        );
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    const rehomeMs = Date.now() - killedAt;
    expect(rehomeMs, `re-homed in ${rehomeMs} ms`).toBeLessThan(10_000);
    const after = await waitFor(`${survivor} shows them on their new nodes`, async () => {
      const views = await w.api<FleetEngineView[]>(survivor, '/api/engines');
      return moved.every((id) => {
        const view = views.find((v) => v.id === id);
        return view?.node && view.node !== victim && view.link === 'available';
      })
        ? views
        : undefined;
    });
    expect(after.filter((v) => moved.includes(v.id)).every((v) => v.node !== victim)).toBe(true);
    // The survivor's live-update stream told of every moved engine's link, whichever node took it, and of
    // runs on the other nodes.
    const third = [...w.nodes.keys()].find((name) => name !== victim && name !== survivor)!;
    const final = await w.owners();
    for (const id of moved)
      expect(events.text(), `${id} on ${final.get(id)}`).toMatch(
        new RegExp(`event: engine\\ndata: \\{"engineId":"${id}","link":"available"`),
      );
    const onThird = ids.filter((id) => final.get(id) === third);
    if (onThird.length > 0)
      await waitFor('a run change of an engine held by the third node, on the survivor', () =>
        onThird.some((id) => new RegExp(`event: run\\ndata: [^\\n]*"engineId":"${id}"`).test(events.text())),
      );
    // `engine-link status` on any node names the node holding each engine.
    const status = spawnCli(['status', '--aggregator', w.node(survivor).url]);
    expect(await status.exited, status.stderr()).toBe(0);
    expect(status.lines[1]).toMatch(/^ENGINE\s+LINK\s+.*\s+RUN\s+NODE$/);
    for (const id of moved)
      expect(status.lines.find((line) => line.startsWith(`${id} `))).toMatch(
        new RegExp(` (?!${victim})node-[abc]\\s*$`),
      );
    // More traffic on their new nodes, then everything is checked.
    const moving = await w.marks();
    await waitFor('more records from every engine', async () => {
      const marks = await w.marks();
      return ids.every((id) => marks.get(id)! > moving.get(id)! + 40);
    });
    await w.finish(survivor);
  }, 240_000);
});
