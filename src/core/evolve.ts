/**
 * `evolve`, the only writer of the cache state: a deterministic fold over
 * CacheEvents. It reads no clock and no globals (time comes inside the events)
 * and, for speed, updates the state it is given in place and returns it: the
 * state belongs to the fold.
 */
import type { CacheEvent, InvalidatedEvent, LogPosition } from './events.ts';
import { evolveAck, forgetLostPeer } from './evolve-acks.ts';
import { findLoad, initialState, type CacheState, type LoadRecord, type Policy } from './state.ts';

/** How many positions past a gap are remembered while it is repaired. */
const MAX_AHEAD = 1024;

/** The fold of a hit (the eviction policy's mark), shared with the hit fast path that applies it without building the event. */
export function applyHit<V>(state: CacheState<V>, slot: number): void {
  state.entries.hit(slot);
}

export function evolve<V>(state: CacheState<V>, event: CacheEvent<V>): CacheState<V> {
  switch (event.type) {
    case 'hit': {
      const slot = state.entries.slot(event.key);
      if (slot !== undefined) applyHit(state, slot);
      return state;
    }
    case 'miss':
    case 'stale.served':
    case 'load.discarded':
    case 'message.rejected':
      // Decisions that change no state: projections count them.
      return state;
    case 'message.received':
      if (event.position !== undefined) advanceLog(state, event.position);
      // Without a position on a logged channel, the log cannot vouch for what a gap missed.
      else if (state.log !== undefined) state.unlogged = true;
      return state;
    case 'log.advanced':
      advanceLog(state, event.position);
      return state;
    case 'repair.started':
      state.repair = { repairId: event.repairId, reason: event.reason, since: state.repair?.since ?? event.at, attemptAt: event.at, inFlight: true };
      if (event.repairId > state.lastRepairId) state.lastRepairId = event.repairId;
      return state;
    case 'repair.failed':
      if (state.repair?.repairId === event.repairId) state.repair.inFlight = false;
      return state;
    case 'resynced':
      if (event.head !== undefined) moveCursor(state, event.head);
      state.repair = undefined;
      // The repair's decision sent what was owed.
      state.owedAcks.clear();
      if (event.mode === 'full') state.unlogged = false;
      // The log vouched for every entry: the degraded bound no longer applies to them.
      else state.entries.liftCaps();
      return state;
    case 'load.started': {
      const record: LoadRecord = {
        loadId: event.loadId,
        key: event.key,
        startedAt: event.at,
        ttl: event.ttl,
        sync: event.sync,
        // A background load has no caller yet.
        waiters: event.reason === undefined ? 1 : 0,
        fencedBy: undefined,
        timedOut: false,
        ...(event.reason === undefined ? {} : { reason: event.reason }),
        ...(event.staleWhileRevalidate === undefined ? {} : { staleWhileRevalidate: event.staleWhileRevalidate }),
      };
      // The first reload a hit starts is the last until the value is stored again: later hits stay on the fast path.
      if (event.reason === 'refresh') refreshStarted(state, event.key);
      const sameKey = state.loads.get(event.key);
      if (sameKey === undefined) state.loads.set(event.key, [record]);
      else sameKey.push(record);
      if (event.loadId > state.lastLoadId) state.lastLoadId = event.loadId;
      return state;
    }
    case 'load.joined': {
      const load = findLoad(state, event.key, event.loadId);
      if (load !== undefined) load.waiters++;
      return state;
    }
    case 'load.timedout': {
      const load = findLoad(state, event.key, event.loadId);
      if (load !== undefined) load.timedOut = true;
      return state;
    }
    case 'loaded': {
      const sameKey = state.loads.get(event.key);
      if (sameKey === undefined) return state;
      const rest = sameKey.filter((load) => load.loadId !== event.loadId);
      if (rest.length === 0) state.loads.delete(event.key);
      else state.loads.set(event.key, rest);
      // Tag fences only matter to loads that began before them.
      if (state.loads.size === 0) state.tags.dropFences();
      return state;
    }
    case 'stored':
      state.entries.put(event.key, event.value, event.expiresAt, event.ttlExpiresAt, event.size, event);
      // Untagged stores in an untagged cache skip the index altogether.
      if (event.tags !== undefined || state.tags.size > 0) state.tags.tag(event.key, event.tags);
      fenceLoads(state, event.key, 'superseded');
      return state;
    case 'store.refused':
      // The newer value was not kept, but the older one is overwritten all the same.
      state.entries.remove(event.key);
      untag(state, event.key);
      fenceLoads(state, event.key, 'superseded');
      return state;
    case 'expired':
      state.entries.remove(event.key);
      untag(state, event.key);
      return state;
    case 'evicted':
      state.entries.evict(event.key);
      untag(state, event.key);
      return state;
    case 'invalidated':
      applyInvalidated(state, event);
      return state;
    case 'cleared':
      state.entries.clear();
      state.tags.clear();
      fenceLoads(state, undefined, 'invalidated');
      return state;
    case 'link.changed':
      state.link = event.state;
      if (event.state === 'connected') {
        state.leaseUntil = event.leaseUntil ?? Infinity;
        state.degradedSince = undefined;
        state.gap = false;
        state.wasConnected = true;
      } else {
        state.leaseUntil = Infinity;
        state.degradedSince = event.since ?? event.at;
        if (event.reason !== 'lease-expired') {
          state.gap = true;
          // A log read in flight answers for a link that is gone.
          state.repair = undefined;
        }
      }
      if (event.entriesExpireBy !== undefined) state.entries.capExpiry(event.entriesExpireBy);
      return state;
    case 'peer.heard':
      state.peers.set(event.instance, event.at);
      if (event.unlogged === true) state.unlogged = true;
      return state;
    case 'peer.lost':
      state.peers.delete(event.instance);
      if (state.acks.size > 0) forgetLostPeer(state, event.instance);
      return state;
    case 'ack.requested':
    case 'ack.confirmed':
    case 'ack.completed':
    case 'ack.timedout':
    case 'ack.deferred':
      return evolveAck(state, event);
    case 'verified':
    case 'coherence.violation':
      return state;
    case 'lease.renewed':
      if (state.link === 'connected' && event.until > state.leaseUntil) state.leaseUntil = event.until;
      return state;
    case 'publish.abandoned':
      state.retryQueue.clear = false;
      state.retryQueue.keys.clear();
      return state;
    case 'published': {
      const queue = state.retryQueue;
      if (event.clear) {
        queue.clear = false;
        queue.keys.clear();
      } else if (queue.keys.size > 0) {
        for (const key of event.keys) queue.keys.delete(key);
      }
      return state;
    }
    case 'publish.failed': {
      const queue = state.retryQueue;
      if (event.clear || event.overflowed) {
        queue.clear = true;
        queue.keys.clear();
      } else if (!queue.clear) {
        for (const key of event.keys) queue.keys.add(key);
      }
      return state;
    }
    default:
      return assertNever(event);
  }
}

/** Drops (or, soft, stales) what an invalidation names, and fences the loads that could store it again. */
function applyInvalidated<V>(state: CacheState<V>, event: InvalidatedEvent): void {
  const { entries, tags } = state;
  switch (event.scope) {
    case 'key':
      if (event.soft === true) entries.expire(event.key, event.at);
      else {
        entries.invalidate(event.key);
        untag(state, event.key);
      }
      fenceLoads(state, event.key, 'invalidated');
      return;
    case 'tag':
      for (const key of tags.keysOf(event.tag)) {
        if (event.soft === true) entries.expire(key, event.at);
        else {
          entries.invalidate(key);
          tags.untag(key);
        }
      }
      // Loads begun so far may settle carrying the tag.
      tags.fence(event.tag, state.lastLoadId, () => oldestLoad(state));
      return;
    case 'prefix':
      for (const key of entries.keysWithPrefix(event.prefix)) {
        entries.invalidate(key);
        untag(state, key);
      }
      for (const [key, group] of state.loads) if (key.startsWith(event.prefix)) for (const load of group) load.fencedBy ??= 'invalidated';
      return;
    case 'all':
      entries.invalidateAll();
      tags.clear();
      fenceLoads(state, undefined, 'invalidated');
      return;
  }
}

/** The oldest load id in flight (Infinity: none). */
function oldestLoad<V>(state: CacheState<V>): number {
  let oldest = Infinity;
  for (const group of state.loads.values()) for (const load of group) if (load.loadId < oldest) oldest = load.loadId;
  return oldest;
}

function untag<V>(state: CacheState<V>, key: string): void {
  if (state.tags.size > 0) state.tags.untag(key);
}

/** Marks the loads of `key` (of every key when undefined) as overtaken; the first reason sticks. */
function fenceLoads<V>(state: CacheState<V>, key: string | undefined, reason: 'invalidated' | 'superseded'): void {
  // Usually nothing is loading: no iteration to set up on every store and invalidation.
  if (state.loads.size === 0) return;
  const groups = key === undefined ? state.loads.values() : [state.loads.get(key) ?? []];
  for (const group of groups) {
    for (const load of group) load.fencedBy ??= reason;
  }
}

function refreshStarted<V>(state: CacheState<V>, key: string): void {
  const slot = state.entries.slot(key);
  if (slot !== undefined) state.entries.refreshStarted(slot);
}

/** The log is applied through `position` when it follows the last entry applied (and through what was received beyond it meanwhile). */
function advanceLog<V>(state: CacheState<V>, position: LogPosition): void {
  const cursor = state.log;
  if (cursor === undefined || cursor.epoch !== position.epoch || position.seq <= cursor.applied) return;
  if (position.seq > cursor.applied + 1) {
    // Beyond a gap: remembered (boundedly) so the cursor can pass it once the gap is repaired.
    if (cursor.ahead.size < MAX_AHEAD) cursor.ahead.add(position.seq);
    return;
  }
  cursor.applied = position.seq;
  while (cursor.ahead.delete(cursor.applied + 1)) cursor.applied++;
}

/** A repair applied the log through `head`. */
function moveCursor<V>(state: CacheState<V>, head: LogPosition): void {
  const previous = state.log;
  const cursor = { epoch: head.epoch, applied: head.seq, ahead: new Set<number>() };
  if (previous !== undefined && previous.epoch === head.epoch) {
    for (const seq of previous.ahead) if (seq > head.seq) cursor.ahead.add(seq);
    // Messages published after the read may have been applied before its answer came (two connections).
    if (previous.applied > cursor.applied) cursor.applied = previous.applied;
  }
  while (cursor.ahead.delete(cursor.applied + 1)) cursor.applied++;
  state.log = cursor;
}

/** Folds `events` into `state` (a fresh initial state by default). */
export function fold<V>(events: Iterable<CacheEvent<V>>, state: CacheState<V> = initialState<V>()): CacheState<V> {
  for (const event of events) evolve(state, event);
  return state;
}

/** A fresh state for `policy` with `events` folded in. */
export function stateAfter<V>(policy: Policy, events: Iterable<CacheEvent<V>>): CacheState<V> {
  return fold(events, initialState<V>(policy));
}

function assertNever(event: never): never {
  throw new Error(`evolve: unknown event ${JSON.stringify(event)}`);
}
