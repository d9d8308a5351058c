import { hostname } from 'node:os';
import { AGGREGATOR_DEFAULTS } from '../aggregator/aggregatorDefaults.ts';
import { isPostgresUrl } from '../aggregator/store/postgres/postgresConnection.ts';
import { UsageError } from './args.ts';

/** The default node id: this host and process, so that two nodes never share one by accident. */
export function defaultNodeId(): string {
  return `${hostname()}:${process.pid}`;
}

/** The aggregator's fleet options (PostgreSQL only): which node this is, and its leases' timing. */
export const fleetOptionSpecs = {
  'node-id': {
    kind: 'text',
    pattern: /^[A-Za-z0-9._:@-]{1,128}$/,
    rule: '1 to 128 letters, digits and . _ : @ -',
    description:
      'this node of a fleet of aggregators sharing one PostgreSQL --db (default: host:pid); every node needs its own',
  },
  'node-url': {
    kind: 'url',
    protocols: ['http:', 'https:'],
    description:
      "where the other nodes reach this node's API, for the commands they forward to it (default: the listening address; PostgreSQL)",
  },
  lease: {
    kind: 'duration',
    unit: 'ms',
    min: 100,
    description:
      "how long a node's hold on an engine lasts without renewal: a dead node's engines move after about this long (PostgreSQL)",
    default: AGGREGATOR_DEFAULTS.fleet.leaseMs,
  },
  'lease-renew': {
    kind: 'duration',
    unit: 'ms',
    min: 10,
    description: 'how often a node renews its leases (less than --lease; PostgreSQL)',
    default: AGGREGATOR_DEFAULTS.fleet.leaseRenewMs,
  },
} as const;

/** What the aggregator takes from the fleet options; undefined for a SQLite store (one aggregator alone). */
export interface FleetSettings {
  nodeId: string;
  leaseMs: number;
  leaseRenewMs: number;
}

/**
 * Checks the fleet options against `--db`: a SQLite store is one aggregator's alone, so --node-id,
 * --lease and --lease-renew are usage errors with it; on PostgreSQL every aggregator is a node of a
 * fleet (of one, when alone).
 */
export function fleetSettings(
  db: string,
  options: { 'node-id'?: string; lease: number; 'lease-renew': number },
  given: ReadonlySet<string>,
): FleetSettings | undefined {
  if (!isPostgresUrl(db)) {
    const named = ['node-id', 'node-url', 'lease', 'lease-renew'].filter((name) => given.has(name));
    if (named.length > 0)
      throw new UsageError(
        `--${named[0]} needs a PostgreSQL --db (postgres://…): a SQLite store is one aggregator's alone, not a fleet's`,
      );
    return undefined;
  }
  if (options['lease-renew'] >= options.lease)
    throw new UsageError(
      `--lease-renew (${options['lease-renew']} ms) must be shorter than --lease (${options.lease} ms)`,
    );
  return {
    nodeId: options['node-id'] ?? defaultNodeId(),
    leaseMs: options.lease,
    leaseRenewMs: options['lease-renew'],
  };
}
