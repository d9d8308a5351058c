import { describe, expect, it } from 'vitest';
import type { EngineDispatcher } from '../../src/engine/dispatcher.ts';
import { reportHardwareState } from '../../src/hardware/reportHardwareState.ts';
import type { EngineRecord } from '../../src/protocol/records.ts';
import { ERROR_AFTER_MS, inIssue, setup, temperature } from './support.ts';

/** Any EngineDispatcher will do: this one keeps what it is sent. */
class RecordingDispatcher implements EngineDispatcher {
  readonly engineId = 'engine-1';
  readonly sent: EngineRecord[] = [];

  send(record: EngineRecord): void {
    this.sent.push(record);
  }

  async close(): Promise<void> {}
}

describe('reportHardwareState', () => {
  it('sends the link state as a state record now and on every change, through any dispatcher', async () => {
    const rt = setup({ errorAfterMs: 60_000, reconnectScheduleMs: [45_000] });
    const dispatcher = new RecordingDispatcher();
    reportHardwareState(rt.recovery, dispatcher);
    await inIssue(rt);
    await rt.clock.advance(10_000 + 60_000);
    rt.hardware.repairLink();
    await rt.clock.advance(45_000);
    expect(rt.recovery.state).toBe('ok');
    expect(dispatcher.sent).toEqual([
      {
        kind: 'state',
        key: 'hardware.reactor',
        value: { state: 'disconnected', connection: 'Disconnected' },
      },
      { kind: 'state', key: 'hardware.reactor', value: { state: 'ok', connection: 'Connected' } },
      { kind: 'state', key: 'hardware.reactor', value: { state: 'issue', connection: 'Connected' } },
      { kind: 'state', key: 'hardware.reactor', value: { state: 'reconnect', connection: 'Connected' } },
      { kind: 'state', key: 'hardware.reactor', value: { state: 'error', connection: 'Disconnected' } },
      { kind: 'state', key: 'hardware.reactor', value: { state: 'ok', connection: 'Connected' } },
    ]);
  });

  it('uses the key it is given, and stops when told to', async () => {
    const rt = setup();
    const dispatcher = new RecordingDispatcher();
    const stop = reportHardwareState(rt.recovery, dispatcher, 'hw/main');
    await rt.recovery.connect();
    stop();
    rt.hardware.breakLink();
    await rt.recovery.read(temperature);
    await rt.clock.advance(ERROR_AFTER_MS);
    expect(dispatcher.sent.map((r) => (r.kind === 'state' ? [r.key, r.value] : r.kind))).toEqual([
      ['hw/main', { state: 'disconnected', connection: 'Disconnected' }],
      ['hw/main', { state: 'ok', connection: 'Connected' }],
    ]);
  });
});
