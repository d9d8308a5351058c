// The engine's side of each system under test, behind one small interface so that a scenario can drive
// engine-link and its alternatives the same way: send samples, count acknowledgements, watch the link.
import mqtt, { type MqttClient } from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { MEMORY_OUTBOX_DEFAULTS } from '../../src/engine/outbox/outboxDefaults.ts';
import { type EngineLinkState, ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import type { Connector } from '../../src/transport/sides.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import type { PlainSample } from '../support.ts';

export type SystemName = 'engine-link' | 'raw-ws' | 'socketio-ack' | 'socketio-faf' | 'mqtt-qos1';

export interface Sender {
  /** Hands one sample over; returns at once. */
  send(sample: PlainSample): void;
  /** Records acknowledged by the receiving side so far (fire-and-forget: the count the server reports). */
  acked(): number;
  /** Records handed over and not yet acknowledged. */
  outstanding(): number;
  /** Link changes as this client sees them: true when it (re)connected, false when it noticed a loss. */
  onLink(listener: (up: boolean) => void): void;
  close(): Promise<void>;
}

export interface SenderOptions {
  /** Host and port the client connects to (maybe a fault proxy in front of the server). */
  port: number;
  id: string;
  /** Tuned heartbeat: Socket.IO ping interval + timeout and MQTT keepalive set to about this (ms). */
  heartbeatMs?: number;
  /** engine-link: outbox size (records). */
  maxRecords?: number;
  /** engine-link: a connector other than a plain WebSocket one. */
  connector?: Connector;
}

const LINK_UP: ReadonlySet<EngineLinkState> = new Set(['connected', 'flushing']);

export class EngineLinkSender implements Sender {
  readonly dispatcher: ResilientDispatcher;
  private up = false;

  constructor(options: SenderOptions) {
    this.dispatcher = new ResilientDispatcher({
      engineId: options.id,
      connector: options.connector ?? new WebSocketConnector(`ws://127.0.0.1:${options.port}`),
      outbox: { maxRecords: options.maxRecords ?? 4_000_000, maxBytes: 2 ** 31 },
    });
    this.dispatcher.on('state', (state) => {
      const up = LINK_UP.has(state);
      if (up !== this.up && (up || state.startsWith('buffering'))) {
        this.up = up;
        for (const listener of this.listeners) listener(up);
      }
    });
  }

  private readonly listeners: Array<(up: boolean) => void> = [];

  send(sample: PlainSample): void {
    this.dispatcher.send({
      kind: 'sample',
      tag: sample.tag,
      value: sample.value,
      unit: sample.unit,
      t: sample.t,
    });
  }

  acked(): number {
    return this.dispatcher.outbox.ackedSeq;
  }

  outstanding(): number {
    return this.dispatcher.outbox.lastSeq - this.dispatcher.outbox.ackedSeq;
  }

  onLink(listener: (up: boolean) => void): void {
    this.listeners.push(listener);
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}

/**
 * Raw `ws`, framed as engine-link frames its records: each sample a compact item (`["s",tag,t,value,unit]`,
 * the protocol's encoding), up to RAW_FRAME_ITEMS items to a frame, a partial frame sent at the end of the
 * turn of the event loop; the server parses each frame and answers with its count. What engine-link adds
 * on top (sequence numbers, checksums, a send window, the store) is what the comparison measures.
 */
/** Items per raw-ws frame: engine-link's records per frame (MEMORY_OUTBOX_DEFAULTS.batchRecords). */
const RAW_FRAME_ITEMS = MEMORY_OUTBOX_DEFAULTS.batchRecords;

export class RawWsSender implements Sender {
  private readonly socket: WebSocket;
  private batch: Array<[string, string, number, number, string]> = [];
  private flushScheduled = false;
  private handed = 0;
  private received = 0;
  private readonly listeners: Array<(up: boolean) => void> = [];

  constructor(options: SenderOptions) {
    this.socket = new WebSocket(`ws://127.0.0.1:${options.port}`, { perMessageDeflate: false });
    this.socket.on('open', () => {
      for (const listener of this.listeners) listener(true);
    });
    this.socket.on('message', (data) => {
      this.received = Number(data.toString());
    });
  }

  send(sample: PlainSample): void {
    this.batch.push(['s', sample.tag, sample.t, sample.value, sample.unit]);
    this.handed++;
    if (this.batch.length === RAW_FRAME_ITEMS) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    this.socket.send(JSON.stringify(this.batch));
    this.batch = [];
  }

  acked(): number {
    return this.received;
  }

  outstanding(): number {
    return this.handed - this.received;
  }

  onLink(listener: (up: boolean) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.socket.close();
  }
}

/**
 * Socket.IO client, WebSocket transport only (what a Node engine would use), one event per sample:
 * with an acknowledgement callback, or fire-and-forget. Reconnection and buffering while disconnected
 * are Socket.IO's defaults.
 */
export class SocketIoSender implements Sender {
  readonly socket: Socket;
  private handed = 0;
  private ackCount = 0;
  private readonly listeners: Array<(up: boolean) => void> = [];

  constructor(
    options: SenderOptions,
    private readonly acks: boolean,
  ) {
    this.socket = io(`http://127.0.0.1:${options.port}`, {
      transports: ['websocket'],
      query: { id: options.id },
    });
    this.socket.on('connect', () => {
      for (const listener of this.listeners) listener(true);
    });
    this.socket.on('disconnect', () => {
      for (const listener of this.listeners) listener(false);
    });
  }

  private readonly onAck = () => {
    this.ackCount++;
  };

  send(sample: PlainSample): void {
    this.handed++;
    if (this.acks) this.socket.emit('s', sample, this.onAck);
    else this.socket.emit('s', sample);
  }

  acked(): number {
    return this.ackCount;
  }

  outstanding(): number {
    return this.acks ? this.handed - this.ackCount : 0;
  }

  onLink(listener: (up: boolean) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.socket.disconnect();
  }
}

/**
 * MQTT.js, QoS 1, one PUBLISH per sample (JSON payload) on `samples/<id>`; clean session; keepalive tuned
 * when asked, reconnection and the in-memory outgoing store as MQTT.js does them by default.
 */
export class MqttSender implements Sender {
  readonly client: MqttClient;
  private readonly topic: string;
  private handed = 0;
  private ackCount = 0;
  private readonly listeners: Array<(up: boolean) => void> = [];

  constructor(options: SenderOptions & { reconnectPeriod?: number }) {
    this.topic = `samples/${options.id}`;
    this.client = mqtt.connect(`mqtt://127.0.0.1:${options.port}`, {
      clientId: options.id,
      keepalive: options.heartbeatMs ? Math.max(1, Math.round(options.heartbeatMs / 1500)) : 60,
      reconnectPeriod: options.reconnectPeriod ?? 1000,
    });
    // `connect` is emitted only after the stored messages were replayed: CONNACK is when the link is up.
    this.client.on('packetreceive', (packet) => {
      if (packet.cmd === 'connack') for (const listener of this.listeners) listener(true);
    });
    this.client.on('close', () => {
      for (const listener of this.listeners) listener(false);
    });
    this.client.on('error', () => {});
  }

  private readonly onAck = (error?: Error) => {
    if (!error) this.ackCount++;
  };

  send(sample: PlainSample): void {
    this.handed++;
    this.client.publish(this.topic, JSON.stringify(sample), { qos: 1 }, this.onAck);
  }

  acked(): number {
    return this.ackCount;
  }

  outstanding(): number {
    return this.handed - this.ackCount;
  }

  onLink(listener: (up: boolean) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

export function createSender(system: SystemName, options: SenderOptions): Sender {
  switch (system) {
    case 'engine-link':
      return new EngineLinkSender(options);
    case 'raw-ws':
      return new RawWsSender(options);
    case 'socketio-ack':
      return new SocketIoSender(options, true);
    case 'socketio-faf':
      return new SocketIoSender(options, false);
    case 'mqtt-qos1':
      return new MqttSender(options);
  }
}

/** The server child each system talks to. */
export function serverFor(system: SystemName): string {
  switch (system) {
    case 'engine-link':
      return 'linkAggregator';
    case 'raw-ws':
      return 'rawWsCounter';
    case 'socketio-ack':
    case 'socketio-faf':
      return 'socketIoServer';
    case 'mqtt-qos1':
      return 'aedesBroker';
  }
}

export const SYSTEM_LABEL: Record<SystemName, string> = {
  'engine-link': 'engine-link',
  'raw-ws': `raw ws, frames of ${RAW_FRAME_ITEMS} compact items`,
  'socketio-ack': 'Socket.IO 4, acks',
  'socketio-faf': 'Socket.IO 4, fire-and-forget',
  'mqtt-qos1': 'MQTT.js 5 QoS 1 → aedes',
};
