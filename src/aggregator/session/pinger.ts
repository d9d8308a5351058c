import type { Clock, TimerHandle } from '../../time/clock.ts';
import type { LinkConnection } from './linkConnection.ts';

/**
 * The aggregator's half of the heartbeat (the other half: each link's silence watchdog). Pings the
 * engine every `heartbeatMs`, except while acknowledgements flow: an engine that was acknowledged within
 * the last half period hears the aggregator anyway (at a thousand engines this saves a ping and a pong
 * per engine and second). The engine is never left silent for more than 1.5 periods.
 */
export class Pinger {
  private timer: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly heartbeatMs: number,
    /** The link to ping now (none: the tick is skipped). */
    private readonly link: () => LinkConnection | undefined,
  ) {}

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.timer = this.clock.setTimeout(tick, this.heartbeatMs);
      const connection = this.link();
      const now = this.clock.now();
      if (!connection || now - connection.lastAckAt < this.heartbeatMs / 2) return;
      connection.transport.send({ type: 'ping', t: now });
    };
    this.timer = this.clock.setTimeout(tick, this.heartbeatMs);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }
}
