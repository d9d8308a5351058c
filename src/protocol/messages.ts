import { z } from 'zod';
import { ENGINE_ID_PATTERN, ENGINE_ID_RULE } from './engineId.ts';
import type { Item } from './records.ts';

/** Protocol version spoken by this implementation. */
export const PROTOCOL_VERSION = 1;

const seq = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const engineId = z.string().regex(ENGINE_ID_PATTERN, `engine ids use ${ENGINE_ID_RULE}`);
const json: z.ZodType<unknown> = z.unknown();

/** What the engine knows about its runs, told to the aggregator in `hello`. */
export const runSnapshotSchema = z.object({
  current: z
    .object({ runId: z.string().min(1), phase: z.string().min(1), startedAt: z.number() })
    .nullable()
    .optional(),
  last: z
    .object({
      runId: z.string().min(1),
      outcome: z.enum(['completed', 'failed', 'interrupted']),
      startedAt: z.number(),
      endedAt: z.number(),
      reason: z.string().optional(),
    })
    .nullable()
    .optional(),
});
export type RunSnapshot = z.infer<typeof runSnapshotSchema>;

// Engine → aggregator

export const helloSchema = z.object({
  type: z.literal('hello'),
  v: z.number().int().positive(),
  engineId,
  epoch: z.string().min(1).max(64),
  /** The last sequence number the engine has assigned (0: none yet). */
  lastSeq: seq,
  /** The first sequence number the engine still holds; earlier ones were acknowledged. */
  firstSeq: seq.optional(),
  snapshot: runSnapshotSchema.optional(),
});

/** The envelope of a records frame; its items are checked by `validateItems` (see codec.ts). */
export const recordsSchema = z.object({
  type: z.literal('records'),
  from: seq.min(1),
  items: z.array(z.unknown()).min(1),
});

export const commandResultSchema = z.object({
  type: z.literal('commandResult'),
  id: z.string().min(1).max(128),
  ok: z.boolean(),
  result: json.optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

export const pongSchema = z.object({ type: z.literal('pong'), t: z.number().optional() });
export const byeSchema = z.object({ type: z.literal('bye'), reason: z.string().max(1024).optional() });

export const engineMessageSchema = z.discriminatedUnion('type', [
  helloSchema,
  recordsSchema,
  commandResultSchema,
  pongSchema,
  byeSchema,
]);

// Aggregator → engine

export const welcomeSchema = z.object({
  type: z.literal('welcome'),
  v: z.number().int().positive(),
  /** Highest sequence number of this engine epoch that the aggregator has persisted. */
  ackSeq: seq,
  heartbeatMs: z.number().int().positive(),
  retryAfterMs: z.number().int().nonnegative().optional(),
});
export const ackSchema = z.object({ type: z.literal('ack'), seq });
export const commandSchema = z.object({
  type: z.literal('command'),
  id: z.string().min(1).max(128),
  name: z.string().min(1).max(128),
  args: json.optional(),
});
export const pingSchema = z.object({ type: z.literal('ping'), t: z.number() });
export const errorSchema = z.object({
  type: z.literal('error'),
  code: z.string(),
  message: z.string(),
  retryAfterMs: z.number().int().nonnegative().optional(),
});

export const aggregatorMessageSchema = z.discriminatedUnion('type', [
  welcomeSchema,
  ackSchema,
  commandSchema,
  pingSchema,
  errorSchema,
]);

export type Hello = z.infer<typeof helloSchema>;
export type RecordsFrame = Omit<z.infer<typeof recordsSchema>, 'items'> & { items: Item[] };
export type CommandResult = z.infer<typeof commandResultSchema>;
export type EngineMessage =
  | Hello
  | RecordsFrame
  | CommandResult
  | z.infer<typeof pongSchema>
  | z.infer<typeof byeSchema>;

export type Welcome = z.infer<typeof welcomeSchema>;
export type Command = z.infer<typeof commandSchema>;
export type AggregatorMessage = z.infer<typeof aggregatorMessageSchema>;

export const ENGINE_MESSAGE_TYPES = ['hello', 'records', 'commandResult', 'pong', 'bye'] as const;
export const AGGREGATOR_MESSAGE_TYPES = ['welcome', 'ack', 'command', 'ping', 'error'] as const;
