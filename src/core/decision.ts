/** What `decide` returns: the events that happen, then the effects the shell runs. */
import type { Effect } from './effects.ts';
import type { CacheEvent } from './events.ts';

export interface Decision<V> {
  readonly events: CacheEvent<V>[];
  readonly effects: Effect<V>[];
}

export function nothing<V>(): Decision<V> {
  return { events: [], effects: [] };
}
