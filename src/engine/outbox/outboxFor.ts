import type { Clock } from '../../time/clock.ts';
import { DurableOutbox, type DurableOutboxOptions } from './durable/durableOutbox.ts';
import { MemoryOutbox } from './memoryOutbox.ts';
import type { Outbox } from './outbox.ts';
import type { OutboxLimits } from './outboxDefaults.ts';

/** What a dispatcher's `outbox` option may be: an outbox, a durable one's options, or a memory one's limits. */
export type OutboxOption = Outbox | OutboxLimits | DurableOutboxOptions;

/**
 * The outbox the option asks for: the one given; a durable one (`{ path, ... }`) on the dispatcher's
 * clock, for its engine; or, by default, a memory one with the limits given.
 */
export function outboxFor(
  option: OutboxOption | undefined,
  engine: { engineId: string; clock: Clock },
): Outbox {
  if (option && 'append' in option) return option;
  if (option && 'path' in option)
    return new DurableOutbox({ clock: engine.clock, engineId: engine.engineId, ...option });
  return new MemoryOutbox(option);
}
