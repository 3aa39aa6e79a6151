/**
 * Reads that start a load nobody waits for: a hit past its entry's refresh
 * time (`refreshAhead`) serves the fresh value and starts one background
 * reload; a read of an expired value inside its stale-while-revalidate window
 * serves it at once and starts one background load unless one is in flight.
 * Such loads are fenced like every load (an invalidation or a newer value
 * while they run keeps their value out), and an expired value is served only
 * while a peer's write could not have gone unheard for degradedTtl (the bound
 * staleIfError keeps too). Only `get` does either: a sync loader cannot run
 * in the background.
 */
import type { ReadCommand } from './commands.ts';
import type { Decision } from './decision.ts';
import type { Effect } from './effects.ts';
import type { CacheEvent, LoadReason } from './events.ts';
import { joinableLoad, unheardSince, type CacheState } from './state.ts';

/** A fresh hit; past its refresh time (async reads only), plus one background reload. */
export function decideHit<V>(state: CacheState<V>, command: ReadCommand, slot: number): Decision<V> {
  const { key, at } = command;
  const serve: Effect<V> = { type: 'serve', value: state.entries.value(slot) };
  const hit: CacheEvent<V> = { type: 'hit', key, at };
  if (command.sync || state.entries.refreshAt(slot) > at) return { events: [hit], effects: [serve] };
  const events: CacheEvent<V>[] = [hit];
  const effects: Effect<V>[] = [serve];
  // A load in flight (one a lapsed lease let a miss start) will store a newer value anyway.
  if (joinableLoad(state, key, at) === undefined) backgroundLoad(state, command, 'refresh', events, effects);
  return { events, effects };
}

/**
 * A read of the expired, live entry in `slot`: inside its stale-while-revalidate
 * window and the bound, the miss is answered with the value at once, and one
 * background load revalidates it (unless one is in flight). Undefined otherwise.
 */
export function decideStaleRead<V>(state: CacheState<V>, command: ReadCommand, slot: number): Decision<V> | undefined {
  const { key, at } = command;
  const entries = state.entries;
  const expiresAt = entries.expiresAt(slot);
  const window = entries.windows(slot).staleWhileRevalidate ?? state.policy.staleWhileRevalidate;
  if (command.sync || at < expiresAt || at >= expiresAt + window || at >= unheardSince(state) + state.policy.degradedTtl) return undefined;
  const events: CacheEvent<V>[] = [
    { type: 'miss', key, at, reason: 'expired' },
    { type: 'stale.served', key, at, reason: 'swr', reads: 1 },
  ];
  const effects: Effect<V>[] = [{ type: 'serve', value: entries.value(slot) }];
  if (joinableLoad(state, key, at) === undefined) backgroundLoad(state, command, 'swr', events, effects);
  return { events, effects };
}

/** How long past its expiry an entry is kept: its longest stale window. */
export function staleFor<V>(state: CacheState<V>, slot: number): number {
  const own = state.entries.windows(slot);
  return Math.max(own.staleIfError ?? state.policy.staleIfError, own.staleWhileRevalidate ?? state.policy.staleWhileRevalidate);
}

/** Starts load `lastLoadId + 1` with no caller waiting (its timeout armed first, as for every load). */
function backgroundLoad<V>(state: CacheState<V>, command: ReadCommand, reason: LoadReason, events: CacheEvent<V>[], effects: Effect<V>[]): void {
  const { key, at, ttl } = command;
  const loadId = state.lastLoadId + 1;
  const swr = command.staleWhileRevalidate;
  events.push({ type: 'load.started', key, at, loadId, ttl, sync: false, reason, ...(swr === undefined ? {} : { staleWhileRevalidate: swr }) });
  const { loadTimeout } = state.policy;
  if (loadTimeout !== undefined) effects.push({ type: 'arm-load-timeout', key, loadId, afterMs: loadTimeout });
  effects.push({ type: 'start-load', key, loadId, sync: false, background: true });
}
