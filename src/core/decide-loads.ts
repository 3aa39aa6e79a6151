/**
 * Decisions on loads that end: a value is stored unless an invalidation or a
 * newer value fenced its load (the callers still get it: it was true when
 * loaded); an error or a timeout serves the expired value inside its
 * stale-if-error window, else reaches every caller. A loader error is never cached.
 */
import type { LoadSettledCommand, LoadTimeoutCommand } from './commands.ts';
import { nothing, type Decision } from './decision.ts';
import { storeEvents } from './store.ts';
import type { Effect } from './effects.ts';
import type { CacheEvent } from './events.ts';
import { findLoad, staleValue, type CacheState } from './state.ts';

export function decideLoadSettled<V>(state: CacheState<V>, command: LoadSettledCommand<V>): Decision<V> {
  const { key, loadId, at } = command;
  const load = findLoad(state, key, loadId);
  if (load === undefined) return nothing();
  // Callers answered by a timeout are gone: the late outcome only decides the store.
  const waiters = load.timedOut ? 0 : load.waiters;
  const durationMs = at - load.startedAt;
  if (command.outcome === 'ok') {
    const events: CacheEvent<V>[] = [{ type: 'loaded', key, at, loadId, outcome: 'ok', durationMs, waiters, servedStale: false }];
    // A tag it settles with may have been invalidated since it began (tags.fences).
    const fencedBy = load.fencedBy ?? (state.tags.fences(loadId, command.tags) ? 'invalidated' : undefined);
    if (fencedBy === undefined) {
      // The loader may have set ctx.ttl / ctx.staleIfError; the per-call window came with the read.
      const own = { staleIfError: command.staleIfError, staleWhileRevalidate: load.staleWhileRevalidate };
      events.push(...storeEvents(state, key, command.value, command.ttl ?? load.ttl, at, load.startedAt, 'load', command.size, own, command.tags));
    } else events.push({ type: 'load.discarded', key, at, loadId, reason: fencedBy });
    const effects: Effect<V>[] = load.timedOut ? [] : [{ type: 'settle-load', loadId, result: { kind: 'value', value: command.value } }];
    return { events, effects };
  }
  // A background load nobody joined answers nobody: the expired value stays for the next read to decide.
  const stale = waiters === 0 ? undefined : staleValue(state, key, at);
  const events: CacheEvent<V>[] = [
    { type: 'loaded', key, at, loadId, outcome: 'error', durationMs, waiters, servedStale: stale !== undefined, errorName: command.errorName },
  ];
  if (stale !== undefined) events.push({ type: 'stale.served', key, at, reason: 'error', reads: waiters });
  if (load.timedOut) return { events, effects: [] };
  const result = stale === undefined ? ({ kind: 'error', error: command.error } as const) : ({ kind: 'value', value: stale.value } as const);
  return { events, effects: [{ type: 'settle-load', loadId, result }] };
}

/** Its callers stop waiting (with the stale value or a timeout error); later reads start a fresh load; the loader may still store. */
export function decideLoadTimeout<V>(state: CacheState<V>, command: LoadTimeoutCommand): Decision<V> {
  const { key, loadId, at } = command;
  const load = findLoad(state, key, loadId);
  if (load === undefined || load.timedOut) return nothing();
  const stale = staleValue(state, key, at);
  const afterMs = state.policy.loadTimeout ?? 0;
  const served = stale !== undefined && load.waiters > 0;
  const events: CacheEvent<V>[] = [{ type: 'load.timedout', key, at, loadId, waiters: load.waiters, servedStale: served }];
  if (served) events.push({ type: 'stale.served', key, at, reason: 'error', reads: load.waiters });
  return {
    events,
    effects: [
      { type: 'settle-load', loadId, result: stale === undefined ? { kind: 'timeout', afterMs } : { kind: 'value', value: stale.value } },
      { type: 'abort-load', key, loadId },
    ],
  };
}
