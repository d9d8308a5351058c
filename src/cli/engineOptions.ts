import { AGGREGATOR_DEFAULTS } from '../aggregator/aggregatorDefaults.ts';
import { ENGINE_DEFAULTS } from '../engine/engineDefaults.ts';
import { MAX_SIMULATED_RATE, MAX_SIMULATED_TAGS } from '../engine/simulatedEngine.ts';
import { ENGINE_ID_PATTERN, ENGINE_ID_RULE } from '../protocol/engineId.ts';
import { type OptionSpecs, secretOptions } from './args.ts';
import { helpText } from './helpText.ts';
import { inspectOptionSpec } from './inspectOption.ts';
import { logLevelSpec } from './logger.ts';
import { opcuaOptionSpecs } from './opcuaOption.ts';

/** The engine's options: every rule and default in one place (help and checks come from here). */
export const engineSpecs = {
  aggregator: {
    kind: 'url',
    protocols: ['ws:', 'wss:'],
    list: true,
    description:
      "the aggregator's URL (wss:// when it serves TLS); several nodes sharing one store: comma-separated, tried in a shuffled order, the engine moves to another when its node is down",
    default: `ws://${AGGREGATOR_DEFAULTS.host}:${AGGREGATOR_DEFAULTS.port}`,
  },
  id: { kind: 'text', pattern: ENGINE_ID_PATTERN, rule: ENGINE_ID_RULE, description: 'engine id (required)' },
  ...secretOptions('secret', 'token presented to the aggregator', 'ENGINE_LINK_SECRET'),
  ca: {
    kind: 'path',
    role: 'input-file',
    description: 'PEM file of the certificate(s) to trust for a wss:// aggregator',
  },
  simulate: { kind: 'flag', description: 'produce simulated samples (required)' },
  rate: {
    kind: 'number',
    min: 0,
    aboveMin: true,
    max: MAX_SIMULATED_RATE,
    unit: 'records/s',
    description: 'sample records per second',
    default: 100,
  },
  tags: {
    kind: 'integer',
    min: 1,
    max: MAX_SIMULATED_TAGS,
    unit: 'tags',
    description: 'number of simulated tags',
    default: 5,
  },
  'run-seconds': {
    kind: 'duration',
    unit: 's',
    min: 0,
    description: 'length of each simulated method run; 0: runs start only on a start command',
    default: 0,
  },
  'fail-every': {
    kind: 'integer',
    min: 0,
    max: 1_000_000,
    unit: 'n',
    description: 'every Nth run fails (0: none)',
    default: 0,
  },
  'drain-timeout': {
    kind: 'duration',
    unit: 's',
    min: 0,
    description:
      'on SIGINT/SIGTERM, wait this long for the backlog to be acknowledged (a second signal stops waiting)',
    default: 10,
  },
  'rejected-retry': {
    kind: 'duration',
    unit: 's',
    min: 0.1,
    description:
      'while the aggregator refuses this engine (its token or id), try again this often; records are kept',
    default: ENGINE_DEFAULTS.rejectedRetryMs / 1000,
  },
  'max-offline': {
    kind: 'duration',
    unit: 's',
    min: 0,
    description:
      'the link may be down this long before the running method pauses (resumes when the link is back; 0: never)',
    default: 0,
  },
  'heartbeat-timeout': {
    kind: 'duration',
    unit: 'ms',
    min: 100,
    description: 'silence before the link counts as dead',
    default: ENGINE_DEFAULTS.heartbeatTimeoutMs,
  },
  'max-records': {
    kind: 'integer',
    min: 10,
    max: Number.MAX_SAFE_INTEGER,
    unit: 'records',
    conflicts: 'outbox',
    description: 'in-memory outbox bound in records',
    default: ENGINE_DEFAULTS.outbox.maxRecords,
  },
  'max-bytes': {
    kind: 'integer',
    min: 1024,
    max: Number.MAX_SAFE_INTEGER,
    unit: 'bytes',
    conflicts: 'outbox',
    description: 'in-memory outbox bound in bytes',
    default: ENGINE_DEFAULTS.outbox.maxBytes,
  },
  outbox: {
    kind: 'path',
    role: 'directory',
    description: 'directory of a durable outbox that survives a crash or restart (default: in memory)',
  },
  'outbox-sync': {
    kind: 'enum',
    values: ['always', 'batch'],
    requires: 'outbox',
    description: `always: each record synced to disk before send() returns; batch: at most ${ENGINE_DEFAULTS.durableOutbox.syncEveryMs} ms at risk`,
    default: ENGINE_DEFAULTS.durableOutbox.sync,
  },
  'outbox-max-bytes': {
    kind: 'integer',
    min: 64 * 1024,
    max: Number.MAX_SAFE_INTEGER,
    unit: 'bytes',
    requires: 'outbox',
    description: 'durable outbox bound on disk in bytes',
    default: ENGINE_DEFAULTS.durableOutbox.maxBytes,
  },
  'offline-sample-ms': {
    kind: 'duration',
    unit: 'ms',
    min: 0,
    description: 'while the link is down keep one sample per tag per this many ms (0: keep all)',
    default: 0,
  },
  'progress-ms': {
    kind: 'duration',
    unit: 'ms',
    min: 0,
    description: 'print {"progress":{lastSeq,durableSeq,acked,state}} to stdout this often (0: never)',
    default: 0,
  },
  'metrics-port': {
    kind: 'port',
    min: 0,
    description:
      'serve Prometheus metrics at http://<metrics-host>:<port>/metrics (default: off; 0: any free port)',
  },
  'metrics-host': {
    kind: 'host',
    requires: 'metrics-port',
    description: 'address the metrics are served on',
    default: '127.0.0.1',
  },
  'print-runs': {
    kind: 'flag',
    description:
      'print {"start":{engineId,epoch,lastSeq}} once, then {"run":{event,runId,t,seq}} for each run start and end',
  },
  ...opcuaOptionSpecs,
  ...inspectOptionSpec,
  'log-level': logLevelSpec,
} satisfies OptionSpecs;

export const engineUsage = helpText(
  'engine-link engine --aggregator ws://127.0.0.1:8080 --id sim-1 --simulate [options]',
  'Runs an engine whose records reach the aggregator exactly once and in order, through outages.\n' +
    'It keeps running whatever its link does (aggregator down, refused, unreachable), keeping every record.\n' +
    'On SIGINT/SIGTERM it stops producing, waits for the backlog (a second signal stops waiting), says\n' +
    'goodbye to the aggregator, and prints one JSON line with its counts.\n' +
    'With several aggregators (nodes on one PostgreSQL store: --aggregator ws://a:8080,ws://b:8080) it\n' +
    'tries them in a shuffled order, moves to the next at once when one is down or busy, backs off after a\n' +
    'round of them all, and re-homes when its node dies; each "link" log line names the one it is on.',
  engineSpecs,
);
