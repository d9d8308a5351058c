/**
 * The PostgreSQL store's schema, in one place: its version and the migrations that build it, applied at
 * start in one transaction under an advisory lock (two aggregators starting at once migrate once). The
 * version lives in `engine_link_schema`, which also marks a database as engine-link's. A new table or
 * column is a new migration at the end of MIGRATIONS.
 *
 * The tables mirror the SQLite store's (see ../sqliteSchema.ts). A record's value is in `num` when it is a
 * number (what most samples are: a plain `double precision` column to chart and aggregate) and in `value`
 * (jsonb) otherwise; both NULL: an event without data.
 */

/** The schema version this code writes. */
export const POSTGRES_SCHEMA_VERSION = 2;

/** Any 64-bit number, the same for every engine-link: the advisory lock migrations hold. */
export const MIGRATION_LOCK = 0x454c6e6b_0001;

/** `MIGRATIONS[n]` takes the schema from version n to n + 1. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE engines (
    id text PRIMARY KEY,
    current_epoch text,
    first_seen_at bigint,
    last_seen_at bigint
  );
  CREATE TABLE streams (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    engine_id text NOT NULL,
    epoch text NOT NULL,
    high_water bigint NOT NULL DEFAULT 0,
    record_count bigint NOT NULL DEFAULT 0,
    duplicates bigint NOT NULL DEFAULT 0,
    UNIQUE (engine_id, epoch)
  );
  CREATE TABLE records (
    stream integer NOT NULL,
    seq bigint NOT NULL,
    kind smallint NOT NULL,
    key text NOT NULL,
    t double precision NOT NULL,
    num double precision,
    value jsonb,
    unit text,
    PRIMARY KEY (stream, seq)
  );
  CREATE TABLE gaps (
    stream integer NOT NULL,
    from_seq bigint NOT NULL,
    to_seq bigint NOT NULL,
    count bigint NOT NULL,
    reason text NOT NULL,
    PRIMARY KEY (stream, from_seq)
  );
  CREATE TABLE sample_windows (
    stream integer NOT NULL,
    seq bigint NOT NULL,
    window_start double precision NOT NULL,
    window_end double precision NOT NULL,
    samples bigint NOT NULL,
    PRIMARY KEY (stream, seq)
  );
  CREATE TABLE runs (
    engine_id text NOT NULL,
    id text NOT NULL,
    epoch text NOT NULL,
    state text NOT NULL,
    started_at double precision NOT NULL,
    ended_at double precision,
    reason text,
    method text,
    phase text NOT NULL,
    start_seq bigint NOT NULL,
    end_seq bigint,
    since bigint NOT NULL,
    PRIMARY KEY (engine_id, id)
  );
  CREATE INDEX runs_by_id ON runs (id);
  CREATE INDEX runs_by_state ON runs (state);
  CREATE INDEX runs_by_start ON runs (started_at DESC, id);
  `,
  // 1 → 2: a fleet of aggregators (leases.ts). Which node owns each engine (a lease in database time, with
  // the fencing epoch that grows on every takeover); the nodes and where their API answers; each engine's
  // link as its owner shows it, for the other nodes.
  `
  CREATE TABLE leases (
    engine_id text PRIMARY KEY,
    node text NOT NULL,
    holder text NOT NULL,
    epoch bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE fleet_nodes (
    id text PRIMARY KEY,
    holder text NOT NULL,
    api_url text,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE engine_links (
    engine_id text PRIMARY KEY,
    node text NOT NULL,
    link text NOT NULL,
    since double precision NOT NULL,
    reason text
  );
  `,
];

/** What migrate() needs of a connection: run SQL text, with parameters or none. */
export interface SchemaConnection {
  query<T>(text: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs statements that take no parameters (several separated by semicolons). */
  exec(text: string): Promise<void>;
}

/** A database that is not engine-link's, or one of a newer schema: nothing was written to it. */
export class PostgresSchemaError extends Error {
  override readonly name = 'PostgresSchemaError';
}

/**
 * Brings the database to POSTGRES_SCHEMA_VERSION inside the transaction `tx` belongs to. Refuses a
 * database of a newer version (written by a newer engine-link) and one that holds engine-link's table
 * names without its schema mark (another application's), writing nothing.
 */
export async function migrateSchema(tx: SchemaConnection, where: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
  await tx.exec('CREATE TABLE IF NOT EXISTS engine_link_schema (version integer NOT NULL)');
  const rows = await tx.query<{ version: number }>('SELECT version FROM engine_link_schema');
  let version = rows[0]?.version ?? 0;
  if (version > POSTGRES_SCHEMA_VERSION)
    throw new PostgresSchemaError(
      `database ${where} has engine-link schema version ${version}, newer than this engine-link supports ` +
        `(${POSTGRES_SCHEMA_VERSION}): run the engine-link that wrote it, or a newer one`,
    );
  if (version === 0) {
    const taken = await tx.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables
       WHERE table_schema = current_schema() AND table_name = ANY($1)`,
      [
        [
          'engines',
          'streams',
          'records',
          'gaps',
          'sample_windows',
          'runs',
          'leases',
          'fleet_nodes',
          'engine_links',
        ],
      ],
    );
    if (taken.length > 0)
      throw new PostgresSchemaError(
        `database ${where} already has tables named ${taken.map((t) => t.name).join(', ')} but no ` +
          'engine-link schema mark: it is not an engine-link store; give the aggregator a database of its own',
      );
    await tx.exec('INSERT INTO engine_link_schema (version) VALUES (0)');
  }
  for (; version < POSTGRES_SCHEMA_VERSION; version++) await tx.exec(MIGRATIONS[version]!);
  await tx.query('UPDATE engine_link_schema SET version = $1', [POSTGRES_SCHEMA_VERSION]);
}
