import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Linux's range of ephemeral ports (the local ports of outgoing connections and of `listen(0)`). */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    return [Number(low), Number(high)];
  } catch {
    return [32768, 60999];
  }
}

function listensOn(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free loopback port for a server that is killed and started again on the same port (the soak's
 * aggregator): chosen below the ephemeral range, because while the server is down any outgoing connection
 * on the machine may be given a port of that range as its local port, and the restart would find it taken.
 */
export async function restartablePort(random: () => number = Math.random): Promise<number> {
  const [ephemeralLow] = ephemeralRange();
  const low = Math.max(1024, ephemeralLow - 12_000);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(random() * (ephemeralLow - low));
    if (await listensOn(port)) return port;
  }
  throw new Error(`no free port from ${low} to ${ephemeralLow - 1}`);
}
