// A fan-in worker: <count> engines of one system in this process, each sending 10 samples/s (one every
// 100 ms, spread evenly over the 100 ms) once told to start. Paced by the wall clock: a tick the timer
// delivers late (a busy event loop) sends every slot that came due meanwhile, so the offered load stays
// 10 samples/s per engine. Started by fanIn.ts over IPC.
// Args: <system> <port> <count> <firstIndex>
import { createSender, type Sender, type SystemName } from '../alternatives/senders.ts';
import { plainSample, serve, waitUntil, wallNow } from '../support.ts';

const [system, port, countArg, firstArg] = process.argv.slice(2) as [SystemName, string, string, string];
const count = Number(countArg);
const first = Number(firstArg);
const TICK_MS = 10;
const TICKS_PER_PERIOD = 10; // each engine sends once every 10 ticks: 10 samples/s

const senders: Sender[] = [];
let up = 0;
for (let i = 0; i < count; i++) {
  const sender = createSender(system, { port: Number(port), id: `fan-${first + i}` });
  let seen = false;
  sender.onLink((isUp) => {
    if (isUp && !seen) {
      seen = true;
      up++;
    }
  });
  senders.push(sender);
  // Do not open a thousand connections in the same millisecond.
  if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 20));
}
if (!(await waitUntil(() => up === count, 60_000, 20))) throw new Error(`only ${up} of ${count} engines up`);

let tick = 0;
let sent = 0;
let timer: NodeJS.Timeout | undefined;
serve({ engines: count }, async (request) => {
  if (request.op === 'start') {
    const startedAt = wallNow();
    timer ??= setInterval(() => {
      const t = wallNow();
      const due = Math.floor((t - startedAt) / TICK_MS);
      for (; tick < due; tick++) {
        const slot = tick % TICKS_PER_PERIOD;
        for (let i = slot; i < senders.length; i += TICKS_PER_PERIOD)
          senders[i]!.send(plainSample(sent++, t));
      }
    }, TICK_MS);
    return {};
  }
  if (request.op === 'stop') {
    clearInterval(timer);
    await Promise.all(senders.map((s) => s.close()));
    return { sent };
  }
  throw new Error(`unknown request ${JSON.stringify(request)}`);
});
