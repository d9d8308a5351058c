/** An engine's link as the node that holds it shows it (published to the other nodes). */
export interface FleetLinkChange {
  engineId: string;
  node: string;
  link: 'available' | 'unavailable' | 'catching-up' | 'offline';
  since: number;
  reason?: string;
  /** The engine's tally as its owner had it at the change (sent with the message only, not stored). */
  tally?: { epoch: string | null; persistedSeq: number; persistedCount: number; duplicatesIgnored: number };
}

/** What one node hears from the others: a link change, or a run change (the run as the API shows it). */
export type FleetMessage =
  | { kind: 'link'; change: FleetLinkChange }
  | { kind: 'run'; node: string; run: { engineId: string; id: string } & Record<string, unknown> };

/** An engine as the fleet's database knows it: who holds it now, and its link as that node last told. */
export interface FleetEngineRow {
  engineId: string;
  /** The node holding its lease now (null: none). */
  owner: string | null;
  /** Where that node's HTTP API answers (null: unknown). */
  ownerUrl: string | null;
  /** The link as last published, by which node (null: never published). */
  link: FleetLinkChange | null;
}

/**
 * The fleet's shared directory in the store (PostgreSQL): the nodes and where their APIs answer, each
 * engine's owner and link, and the messages nodes send each other (LISTEN/NOTIFY, sent after commits,
 * never from inside an ingest transaction).
 */
export interface FleetRegistry {
  /** Says where this node's HTTP API answers (commands for its engines are forwarded there). */
  register(apiUrl: string): Promise<void>;
  /** Publishes a link change of an engine this node holds (kept while no other node holds the engine). */
  publishLink(change: FleetLinkChange): Promise<void>;
  /** Tells the other nodes of a run change. */
  publishRun(run: { engineId: string; id: string }): Promise<void>;
  /** Hears the messages of every node (its own too); resolves once listening. */
  listen(onMessage: (message: FleetMessage) => void): Promise<void>;
  /** Every engine the fleet knows, with its owner and its published link. */
  engines(): Promise<FleetEngineRow[]>;
}
