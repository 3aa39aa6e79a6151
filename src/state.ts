/**
 * The cache state and `evolve`, its only writer: a deterministic fold over
 * CacheEvents. `evolve` reads no clock and no globals (time comes inside the
 * events) and, for speed, updates the state it is given in place and returns
 * it: the state belongs to the fold. `replay(events)` from `initialState()`
 * rebuilds what the live cache holds, and `snapshotOf` renders either as plain
 * data that tests compare.
 */
import { EntryTable } from './entries.ts';
import type { CacheEvent, LinkState } from './events.ts';

/** A load in flight, as the fold knows it. */
export interface LoadRecord {
  readonly loadId: number;
  readonly key: string;
  readonly startedAt: number;
  /** Set when an invalidation (`invalidated`) or a newer value (`superseded`) overtook the load: its value must not be stored. */
  fencedBy: 'invalidated' | 'superseded' | undefined;
  /** Its callers were answered with a timeout; the loader still runs. */
  timedOut: boolean;
}

export interface CacheState<V> {
  readonly entries: EntryTable<V>;
  /** `local`: no transport. Otherwise whether other instances' invalidations reach this one. */
  link: 'local' | LinkState;
  /** Keys waiting in the publish retry queue. */
  publishQueueDepth: number;
  /** Loads in flight by key (usually one; more when a timed-out load still runs beside its successor). */
  readonly loads: Map<string, LoadRecord[]>;
}

export function initialState<V>(): CacheState<V> {
  return { entries: new EntryTable<V>(), link: 'local', publishQueueDepth: 0, loads: new Map() };
}

/** The fold of a hit, shared with the hit path that applies it without building the event. */
export function applyHit<V>(state: CacheState<V>, slot: number): void {
  state.entries.touch(slot);
}

export function evolve<V>(state: CacheState<V>, event: CacheEvent<V>): CacheState<V> {
  switch (event.type) {
    case 'hit': {
      const slot = state.entries.slot(event.key);
      if (slot !== undefined) applyHit(state, slot);
      return state;
    }
    case 'miss':
    case 'load.discarded':
    case 'message.rejected':
      // Decisions that change no entry: projections count them.
      return state;
    case 'load.started': {
      const record: LoadRecord = {
        loadId: event.loadId,
        key: event.key,
        startedAt: event.at,
        fencedBy: undefined,
        timedOut: false,
      };
      const sameKey = state.loads.get(event.key);
      if (sameKey === undefined) state.loads.set(event.key, [record]);
      else sameKey.push(record);
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
      return state;
    }
    case 'stored':
      state.entries.put(event.key, event.value, event.expiresAt);
      fenceLoads(state, event.key, 'superseded');
      return state;
    case 'expired':
    case 'evicted':
      state.entries.remove(event.key);
      return state;
    case 'invalidated':
      if (event.scope === 'key') {
        state.entries.invalidate(event.key);
        fenceLoads(state, event.key, 'invalidated');
      } else {
        state.entries.invalidateAll();
        fenceLoads(state, undefined, 'invalidated');
      }
      return state;
    case 'cleared':
      state.entries.clear();
      fenceLoads(state, undefined, 'invalidated');
      return state;
    case 'link.changed':
      state.link = event.state;
      if (event.entriesExpireBy !== undefined) state.entries.capExpiry(event.entriesExpireBy);
      return state;
    case 'published':
    case 'publish.failed':
      state.publishQueueDepth = event.queueDepth;
      return state;
    default:
      return assertNever(event);
  }
}

export function findLoad<V>(state: CacheState<V>, key: string, loadId: number): LoadRecord | undefined {
  return state.loads.get(key)?.find((load) => load.loadId === loadId);
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

export function replay<V>(events: Iterable<CacheEvent<V>>): CacheState<V> {
  let state = initialState<V>();
  for (const event of events) state = evolve(state, event);
  return state;
}

/** One entry as a snapshot shows it, least recently used first. */
export interface EntrySnapshot<V> {
  readonly key: string;
  /** `false` for an invalidated entry kept only to explain the next miss. */
  readonly live: boolean;
  readonly value: V | undefined;
  readonly expiresAt: number;
}

export interface LoadSnapshot {
  readonly loadId: number;
  readonly key: string;
  readonly startedAt: number;
  readonly fencedBy: 'invalidated' | 'superseded' | undefined;
  readonly timedOut: boolean;
}

/** The whole state as plain data. Values are included: a snapshot never leaves the process by itself. */
export interface CacheSnapshot<V> {
  readonly link: 'local' | LinkState;
  readonly publishQueueDepth: number;
  readonly entries: readonly EntrySnapshot<V>[];
  readonly loads: readonly LoadSnapshot[];
}

export function snapshotOf<V>(state: CacheState<V>): CacheSnapshot<V> {
  return {
    link: state.link,
    publishQueueDepth: state.publishQueueDepth,
    entries: [...state.entries.walk()],
    loads: [...state.loads.values()]
      .flat()
      .map((load) => ({ ...load }))
      .sort((a, b) => a.loadId - b.loadId),
  };
}

function assertNever(event: never): never {
  throw new Error(`evolve: unknown event ${JSON.stringify(event)}`);
}
