import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RemoteOwner } from '../fleet/fleetDirectory.ts';
import { sendError, sendJson } from './httpErrors.ts';

/** Marks a command forwarded by another node of the fleet: it is answered here, never forwarded again. */
export const FORWARDED_HEADER = 'x-engine-link-forwarded-by';

/** Whether the request was forwarded by another node. */
export function wasForwarded(request: IncomingMessage): boolean {
  return request.headers[FORWARDED_HEADER] !== undefined;
}

/**
 * In a fleet, a command for an engine another node holds goes to that node's API (node-to-node HTTP), with
 * the caller's credentials and the command's id, and its answer (status and body) is relayed as it is: the
 * owner's command gate decides (409 at once while the engine is unavailable or catching up) and the
 * engine runs a command id at most once. An owner that cannot be reached answers nothing: 409, engine
 * unavailable (its engines move to another node, and the command can be sent again with the same id).
 */
export async function forwardCommand(
  request: IncomingMessage,
  response: ServerResponse,
  owner: RemoteOwner,
  from: string,
  engineId: string,
  command: { id: string; name: string; args?: unknown },
  timeoutMs: number,
): Promise<void> {
  const unreachable = (why: string) =>
    sendError(response, 'engineUnavailable', {
      engineId,
      id: command.id,
      link: 'unavailable',
      since: Date.now(),
      node: owner.node,
      message: `engine ${engineId} is held by aggregator node ${owner.node}, which cannot be reached (${why}); commands cannot reach it`,
    });
  if (!owner.url) {
    unreachable('its address is unknown');
    return;
  }
  const headers: Record<string, string> = { 'content-type': 'application/json', [FORWARDED_HEADER]: from };
  const authorization = request.headers.authorization;
  if (authorization) headers.authorization = authorization;
  let answer: Response;
  try {
    answer = await fetch(`${owner.url}/api/engines/${encodeURIComponent(engineId)}/commands`, {
      method: 'POST',
      headers,
      body: JSON.stringify(command),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    unreachable((error as Error).message);
    return;
  }
  let body: unknown;
  try {
    body = await answer.json();
  } catch (error) {
    unreachable(`its answer was not JSON: ${(error as Error).message}`);
    return;
  }
  sendJson(response, answer.status, body);
}
