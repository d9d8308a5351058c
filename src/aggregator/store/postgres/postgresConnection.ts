import postgres from 'postgres';

/** A connection pool to the store's database (postgres.js). */
export type Sql = postgres.Sql;
/** A connection inside a transaction (or a savepoint of one). */
export type TxSql = postgres.TransactionSql;
/** Either: what a statement runs on. */
export type Queryable = Sql | TxSql;

/** How `PostgresStore.open` connects: the pool's size and the connect timeout. */
export interface PostgresConnectionOptions {
  /** Connections in the pool: one for the ingest transaction, the rest for reads. Default 4. */
  maxConnections?: number;
  /** Seconds to wait for a connection to be made. Default 10. */
  connectTimeoutSeconds?: number;
  /** The server ends a session idle inside a transaction this long (ms). Default: never. */
  idleInTransactionTimeoutMs?: number;
}

export const POSTGRES_CONNECTION_DEFAULTS = {
  maxConnections: 4,
  connectTimeoutSeconds: 10,
};

/** Whether `db` (the aggregator's --db) names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/** The URL without its password, for messages and logs. */
export function describePostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(an unreadable URL)';
  }
}

/**
 * Opens a pool on `url`. bigint columns (sequence numbers, counts) come back as JS numbers: every one the
 * store holds is below 2^53. Queries in a transaction are pipelined by postgres.js (sent without waiting
 * for the answers before them), which is what makes a group's statements one round trip.
 */
export function connectPostgres(url: string, options: PostgresConnectionOptions = {}): Sql {
  const settings = { ...POSTGRES_CONNECTION_DEFAULTS, ...options };
  return postgres(url, {
    max: settings.maxConnections,
    connect_timeout: settings.connectTimeoutSeconds,
    onnotice: () => {},
    ...(options.idleInTransactionTimeoutMs === undefined
      ? {}
      : { connection: { idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs } }),
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (value: number) => String(value),
        parse: (text: string) => Number(text),
      },
    },
  });
}

/** Runs a statement with parameters (prepared once per connection), answering its rows. */
export function query<T>(sql: Queryable, text: string, params: readonly unknown[] = []): Promise<T[]> {
  return sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], {
    prepare: true,
  }) as unknown as Promise<T[]>;
}
