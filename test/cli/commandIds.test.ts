import { describe, expect, it } from 'vitest';
import { cliProcesses, startAggregatorCli } from '../support/childProcess.ts';
import { rawRequest } from '../support/rawHttp.ts';
import { tempDbPath } from '../support/tempDb.ts';

/**
 * Item 5: a command id names one command. Asked again for the same command it gets the first answer (a
 * safe retry); given for a different command it is refused with `id-reused`, never answered with the
 * first command's result. Real processes: an aggregator and an engine.
 */
const { start } = cliProcesses();

describe('command ids', () => {
  it("a reused id for another command is refused (422 id-reused): stop is not answered with start's result", async () => {
    const { url } = await startAggregatorCli(start, tempDbPath());
    start([
      'engine',
      '--aggregator',
      url.replace('http', 'ws'),
      '--id',
      'cmd-1',
      '--simulate',
      '--rate',
      '20',
      '--log-level',
      'warn',
    ]);
    for (;;) {
      const view = (await rawRequest(`${url}/api/engines/cmd-1`)).json as { link?: string };
      if (view.link === 'available') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const command = (body: unknown) =>
      rawRequest(`${url}/api/engines/cmd-1/commands`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const started = await command({ name: 'start', id: 'same-id-1' });
    expect(started).toMatchObject({ status: 200, json: { id: 'same-id-1', ok: true } });
    const runId = (started.json as { result: { runId: string } }).result.runId;

    const stop = await command({ name: 'stop', id: 'same-id-1' });
    expect(stop).toMatchObject({
      status: 422,
      json: { error: 'command-failed', id: 'same-id-1', code: 'id-reused' },
    });
    expect((stop.json as { message: string }).message).toMatch(
      /command id "same-id-1" was already used for "start"; "stop" was not run/,
    );
    const otherArgs = await command({ name: 'start', id: 'same-id-1', args: { method: 'other' } });
    expect(otherArgs).toMatchObject({ status: 422, json: { code: 'id-reused' } });
    // The same command again is a retry: the first answer, and it did not run twice.
    const retry = await command({ name: 'start', id: 'same-id-1' });
    expect(retry).toMatchObject({ status: 200, json: { result: { runId } } });
    const runs = (await rawRequest(`${url}/api/runs?engine=cmd-1`)).json as Array<{
      id: string;
      state: string;
    }>;
    expect(runs).toEqual([expect.objectContaining({ id: runId, state: 'active' })]);
    // With a new id, stop runs.
    expect(await command({ name: 'stop', id: 'stop-1' })).toMatchObject({
      status: 200,
      json: { result: { runId, stopped: true } },
    });
  });
});
