import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { type AggregatorServer, startAggregatorServer } from '../../src/aggregator/server.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { HandEngine, samples } from '../aggregator/support.ts';

/**
 * Slow-loris upgrades: raw TCP clients that open a connection and then never finish their request
 * headers (silent, a partial request, one byte at a time). The server answers each with 408 and drops
 * it once the headers timeout has passed, and serves real engines all along.
 */
const HEADERS_TIMEOUT_MS = 500;
/** Far below Node's own default (60 s headers timeout, checked every 30 s): only our setting explains it. */
const DROPPED_WITHIN_MS = 10_000;

const UPGRADE = [
  'GET /engines/loris/link HTTP/1.1',
  'Host: 127.0.0.1',
  'Upgrade: websocket',
  'Connection: Upgrade',
  'Sec-WebSocket-Version: 13',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
  `X-Padding: ${'p'.repeat(2000)}`,
].join('\r\n');

interface Loris {
  /** Resolves when the server drops the connection: what it answered, and after how long. */
  dropped: Promise<{ response: string; afterMs: number }>;
  /** Bytes the client managed to send before it was dropped. */
  sent(): number;
}

function loris(port: number, behaviour: 'silent' | 'partial' | 'trickle'): Loris {
  const socket = net.connect(port, '127.0.0.1');
  const started = Date.now();
  let response = '';
  let sent = 0;
  let trickle: NodeJS.Timeout | undefined;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    response += chunk;
  });
  socket.on('error', () => {
    // Reset by the server after its answer: the close that follows is what is awaited.
  });
  socket.on('connect', () => {
    if (behaviour === 'partial') {
      const part = `${UPGRADE.slice(0, 120)}`;
      socket.write(part);
      sent = part.length;
    } else if (behaviour === 'trickle')
      // The attack itself, not a synchronisation: one byte every 20 ms, never reaching the blank line.
      trickle = setInterval(() => {
        if (sent < UPGRADE.length && socket.writable) socket.write(UPGRADE[sent++]!);
      }, 20);
  });
  const dropped = new Promise<{ response: string; afterMs: number }>((resolve) => {
    socket.on('close', () => {
      clearInterval(trickle);
      resolve({ response, afterMs: Date.now() - started });
    });
  });
  return { dropped, sent: () => sent };
}

let server: AggregatorServer | undefined;
let aggregator: Aggregator | undefined;
afterEach(async () => {
  await server?.close();
  await aggregator?.close();
});

describe('slow-loris upgrades', () => {
  it('drops clients that never finish their headers with 408, and keeps serving engines meanwhile', async () => {
    aggregator = new Aggregator({ store: new SqliteStore(':memory:'), clock: new SimulatedClock() });
    server = await startAggregatorServer({ aggregator, port: 0, headersTimeoutMs: HEADERS_TIMEOUT_MS });
    const port = server.port;
    const attackers = [
      ...Array.from({ length: 20 }, () => loris(port, 'silent')),
      ...Array.from({ length: 20 }, () => loris(port, 'partial')),
      ...Array.from({ length: 20 }, () => loris(port, 'trickle')),
    ];

    // While they hang on, an engine connects, says hello and has its records persisted.
    const engine = new HandEngine(new WebSocketConnector(server.wsUrl).connect({ engineId: 'honest' }));
    await engine.opening();
    engine.hello('honest', 'ep', 5);
    await engine.nth('welcome', 1);
    engine.records(1, samples(5));
    expect((await engine.nth('ack', 1)).seq).toBe(5);

    const results = await Promise.all(attackers.map((a) => a.dropped));
    for (const [i, result] of results.entries()) {
      expect(result.response, `attacker ${i}`).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(result.afterMs, `attacker ${i}`).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
      expect(result.afterMs, `attacker ${i}`).toBeLessThan(DROPPED_WITHIN_MS);
    }
    // The tricklers were cut off long before they could finish their request.
    for (const trickler of attackers.slice(40)) expect(trickler.sent()).toBeLessThan(UPGRADE.length);
    // No engine link was ever opened for them, and the honest engine's link is still up.
    expect(aggregator.engine('loris')).toBeUndefined();
    expect(engine.closeInfo).toBeUndefined();
    engine.records(6, samples(2, 5));
    expect((await engine.nth('ack', 2)).seq).toBe(7);
  });
});
