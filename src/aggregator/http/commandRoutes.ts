import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { MAX_JSON_DEPTH, nestedDeeperThan } from '../../protocol/records.ts';
import type { Aggregator } from '../aggregator.ts';
import { UnknownEngineError } from '../aggregator.ts';
import { forwardCommand, wasForwarded } from './commandForwarding.ts';
import { sendError, sendJson } from './httpErrors.ts';
import { BadRequestError, readJsonBody } from './readJsonBody.ts';
import type { Route } from './router.ts';

const commandRequestSchema = z.object({
  name: z.string().min(1).max(128),
  args: z
    .unknown()
    .optional()
    .refine(
      (args) => !nestedDeeperThan(args),
      `nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`,
    ),
  id: z.string().min(1).max(128).optional(),
});

/**
 * `POST /api/engines/:id/commands {name, args?, id?}`: the command gate over HTTP.
 * 200 result · 409 refused (engine unavailable or catching up; never queued) · 422 the engine said it
 * failed · 502 outcome unknown (link died: retry with the same id) · 504 no answer in time · 404 unknown
 * engine · 400 bad request · 413 body over 64 KiB · 415 not `Content-Type: application/json`. In a
 * fleet, a command for an engine another node holds is forwarded to that node (commandForwarding.ts).
 */
export function commandRoutes(aggregator: Aggregator): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/engines/:id/commands',
      handler: async ({ request, response, params }) => {
        const engineId = params.id!;
        let body: z.infer<typeof commandRequestSchema>;
        try {
          const parsed = commandRequestSchema.safeParse(await readJsonBody(request));
          if (!parsed.success) {
            const issue = parsed.error.issues[0];
            throw new BadRequestError(`${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
          }
          body = parsed.data;
        } catch (error) {
          if (!(error instanceof BadRequestError)) throw error;
          sendError(response, error.kind, { message: error.message });
          return;
        }
        const id = body.id ?? randomUUID();
        // In a fleet, an engine another node holds is reached through that node.
        const fleet = aggregator.fleet;
        const owner = fleet && !wasForwarded(request) ? await fleet.ownerElsewhere(engineId) : undefined;
        if (fleet && owner) {
          const command = { id, name: body.name, args: body.args };
          const timeoutMs = aggregator.commandTimeoutMs + 5000;
          await forwardCommand(request, response, owner, fleet.nodeId, engineId, command, timeoutMs);
          return;
        }
        let answer: ReturnType<Aggregator['command']>;
        try {
          answer = aggregator.command(engineId, { id, name: body.name, args: body.args });
        } catch (error) {
          if (error instanceof UnknownEngineError) {
            sendError(response, 'unknownEngine', { engineId });
            return;
          }
          throw error;
        }
        if (!(answer instanceof Promise)) {
          const { error, ...refusal } = answer;
          const catchingUp = error === 'engine-catching-up';
          sendError(response, catchingUp ? 'engineCatchingUp' : 'engineUnavailable', {
            ...refusal,
            id,
            message: catchingUp
              ? `engine ${engineId} is catching up on its backlog; commands resume once it is available`
              : `engine ${engineId} is ${answer.link}; commands cannot reach it`,
          });
          return;
        }
        const outcome = await answer;
        switch (outcome.status) {
          case 'ok':
            sendJson(response, 200, { id, engineId, ok: true, result: outcome.result });
            break;
          case 'failed':
            sendError(response, 'commandFailed', {
              id,
              engineId,
              code: outcome.code,
              message: outcome.message,
            });
            break;
          case 'outcome-unknown':
            sendError(response, 'outcomeUnknown', {
              id,
              engineId,
              message: `the link to ${engineId} died before the answer (${outcome.reason}); retry with the same id: it runs at most once`,
            });
            break;
          case 'timeout':
            sendError(response, 'commandTimeout', {
              id,
              engineId,
              message: `no answer from ${engineId} within ${outcome.timeoutMs} ms; the link stays up`,
            });
            break;
        }
      },
    },
  ];
}
