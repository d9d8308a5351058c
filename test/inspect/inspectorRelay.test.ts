import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { cliProcesses } from '../support/childProcess.ts';

/**
 * Item 12: `engine-link inspector` listens where it says (127.0.0.1 unless --host says otherwise) and
 * refuses WebSocket connections from pages of other origins; it relays events between the machines and
 * the page. A real process.
 */
const { start } = cliProcesses();

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function open(url: string, origin?: string): Promise<WebSocket | number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, origin === undefined ? {} : { origin });
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
  });
}

describe('engine-link inspector', () => {
  it('listens on 127.0.0.1 as it prints, refuses other origins, and relays events', async () => {
    const p = start(['inspector', '--port', '0']);
    const line = await p.waitForLine(/relaying on/);
    const [, url, port] = /relaying on (ws:\/\/127\.0\.0\.1:(\d+))$/.exec(line)!;
    expect(await p.waitForLine(/open http:\/\/127\.0\.0\.1:\d+ in a browser/)).toMatch(
      /--inspect ws:\/\/127\.0\.0\.1:/,
    );
    // Bound to 127.0.0.1 itself, not to every address (127.0.0.2 is this machine too).
    expect(await reachable('127.0.0.1', Number(port))).toBe(true);
    expect(await reachable('127.0.0.2', Number(port))).toBe(false);
    expect(await open(url!, 'http://evil.example')).toBe(401);
    const page = await open(url!, `http://127.0.0.1:${port}`);
    const machine = await open(url!);
    if (typeof page === 'number' || typeof machine === 'number')
      throw new Error('the relay refused a client of its own');
    const received = new Promise<string>((resolve) =>
      page.once('message', (data) => resolve(data.toString())),
    );
    machine.send('{"type":"@xstate.event","sessionId":"x"}');
    expect(await received).toBe('{"type":"@xstate.event","sessionId":"x"}');
    page.close();
    machine.close();
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(0);
  });
});
