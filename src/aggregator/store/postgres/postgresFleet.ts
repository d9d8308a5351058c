import type { FleetEngineRow, FleetLinkChange, FleetMessage, FleetRegistry } from '../fleetRegistry.ts';
import { query, type Sql } from './postgresConnection.ts';

/** The channel every node of a fleet listens on. */
export const FLEET_CHANNEL = 'engine_link_fleet';
/** NOTIFY payloads are bounded (8000 bytes): a larger message is not sent (the others read it later). */
const MAX_PAYLOAD = 7900;

const REGISTER = `
  INSERT INTO fleet_nodes (id, holder, api_url) VALUES ($1, $2, $3)
  ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, api_url = EXCLUDED.api_url,
    started_at = now(), seen_at = now()`;

/** Kept only from the node holding the engine, or while no other node does; the message sent with it. */
const PUBLISH_LINK = `
  WITH kept AS (
    INSERT INTO engine_links AS k (engine_id, node, link, since, reason) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (engine_id) DO UPDATE SET node = EXCLUDED.node, link = EXCLUDED.link, since = EXCLUDED.since,
      reason = EXCLUDED.reason
    WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.engine_id = EXCLUDED.engine_id
      AND l.node <> EXCLUDED.node AND l.expires_at > clock_timestamp())
    RETURNING 1
  )
  SELECT pg_notify('${FLEET_CHANNEL}', $6) FROM kept`;

const ENGINES = `
  SELECT e.id AS engine_id, l.node AS owner, n.api_url AS owner_url,
    k.node AS link_node, k.link, k.since, k.reason
  FROM engines e
    LEFT JOIN leases l ON l.engine_id = e.id AND l.expires_at > clock_timestamp()
    LEFT JOIN fleet_nodes n ON n.id = l.node
    LEFT JOIN engine_links k ON k.engine_id = e.id
  ORDER BY e.id`;

/** The fleet's directory on PostgreSQL (tables fleet_nodes, engine_links, leases; LISTEN/NOTIFY). */
export class PostgresFleet implements FleetRegistry {
  constructor(
    private readonly pool: Sql,
    private readonly nodeId: string,
    private readonly holder: string,
  ) {}

  async register(apiUrl: string): Promise<void> {
    await query(this.pool, REGISTER, [this.nodeId, this.holder, apiUrl]);
  }

  async publishLink(change: FleetLinkChange): Promise<void> {
    const message: FleetMessage = { kind: 'link', change };
    await query(this.pool, PUBLISH_LINK, [
      change.engineId,
      change.node,
      change.link,
      change.since,
      change.reason ?? null,
      JSON.stringify(message),
    ]);
  }

  async publishRun(run: { engineId: string; id: string }): Promise<void> {
    const payload = JSON.stringify({ kind: 'run', node: this.nodeId, run } satisfies FleetMessage);
    if (payload.length > MAX_PAYLOAD) return;
    await query(this.pool, 'SELECT pg_notify($1, $2)', [FLEET_CHANNEL, payload]);
  }

  async listen(onMessage: (message: FleetMessage) => void): Promise<void> {
    await this.pool.listen(FLEET_CHANNEL, (payload) => {
      try {
        onMessage(JSON.parse(payload) as FleetMessage);
      } catch {
        // Not one of ours: ignored.
      }
    });
  }

  async engines(): Promise<FleetEngineRow[]> {
    const rows = await query<{
      engine_id: string;
      owner: string | null;
      owner_url: string | null;
      link_node: string | null;
      link: FleetLinkChange['link'] | null;
      since: number | null;
      reason: string | null;
    }>(this.pool, ENGINES);
    return rows.map((row) => ({
      engineId: row.engine_id,
      owner: row.owner,
      ownerUrl: row.owner_url,
      link:
        row.link_node === null || row.link === null
          ? null
          : {
              engineId: row.engine_id,
              node: row.link_node,
              link: row.link,
              since: row.since ?? 0,
              ...(row.reason === null ? {} : { reason: row.reason }),
            },
    }));
  }
}
