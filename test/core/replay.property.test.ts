/**
 * The event-sourcing contract, over random histories: `replay(events)` equals
 * `cache.snapshot()` and `replayStats(events)` equals `cache.stats()`, and
 * every read agrees with a deliberately naive reference model (an array in LRU
 * order, linear scans, no cleverness), under either eviction policy, with or
 * without a size bound, with or without ttl jitter, stale-while-revalidate and
 * refresh-ahead (whose background loads the model tracks like held ones); with
 * tags (invalidated and expired), soft invalidation, and a namespace's
 * invalidateAll.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import sinon from 'sinon';
import { createCache, replay, type CacheEvent } from '../../src/index.ts';
import { expectReplayMatches } from '../support/replay.ts';

/** `n:d` lives in namespace `n`. */
const KEYS = ['a', 'b', 'c', 'n:d'];
const TAGS = ['t', 'u'];

type Command =
  | { kind: 'getSync'; key: string; fail: boolean }
  | { kind: 'get'; key: string; tags: string[] }
  | { kind: 'hold'; key: string; tags: string[] }
  | { kind: 'release'; pick: number; fail: boolean }
  | { kind: 'set'; key: string; ttl: number | undefined; tags: string[] }
  | { kind: 'invalidate'; key: string }
  | { kind: 'invalidateTag'; tag: string; soft: boolean }
  | { kind: 'expire'; key: string }
  | { kind: 'invalidateNamespace' }
  | { kind: 'invalidateAll' }
  | { kind: 'clear' }
  | { kind: 'tick'; ms: number }
  | { kind: 'peek'; key: string };

const key = fc.constantFrom(...KEYS);
const tags = fc.subarray(TAGS);
const tag = fc.constantFrom(...TAGS);
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('getSync' as const), key, fail: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('get' as const), key, tags }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('hold' as const), key, tags }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat(), fail: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), key, ttl: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }), tags }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('invalidate' as const), key }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('invalidateTag' as const), tag, soft: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('invalidateNamespace' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('invalidateAll' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clear' as const) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('peek' as const), key }) },
);

const config = fc.record({
  maxEntries: fc.integer({ min: 1, max: 5 }),
  ttl: fc.integer({ min: 1, max: 40 }),
  staleIfError: fc.constantFrom(0, 10, 50),
  eviction: fc.constantFrom('lru' as const, 'sieve' as const),
  // Values are v1, v2, …: sizes 0 to 4 (sizeOfValue), so a small bound also refuses some.
  maxSize: fc.option(fc.integer({ min: 2, max: 12 }), { nil: undefined }),
  ttlJitter: fc.constantFrom(0, 10),
  staleWhileRevalidate: fc.constantFrom(0, 10, 50),
  refreshAhead: fc.constantFrom(0, 0.5),
  // What Math.random returns for the whole history.
  random: fc.double({ min: 0, max: 0.99, noNaN: true }),
});

type Options = {
  maxEntries: number;
  ttl: number;
  staleIfError: number;
  eviction: 'lru' | 'sieve';
  maxSize: number | undefined;
  ttlJitter: number;
  staleWhileRevalidate: number;
  /** 0: off. */
  refreshAhead: number;
  random: number;
};

const sizeOfValue = (value: string): number => Number(value.slice(1)) % 5;

type Outcome = { value: string } | { error: string };

interface ModelEntry {
  key: string;
  value: string | undefined;
  expiresAt: number;
  live: boolean;
  size: number;
  /** SIEVE's mark. */
  visited: boolean;
  /** When a get hit starts a reload (Infinity: never, or one started). */
  refreshAt: number;
  /** Made stale by expire / expireTag. */
  stale: boolean;
}

interface ModelLoad {
  key: string;
  fenced: boolean;
  /** The tags it settles with, and those invalidated while it ran. */
  tags: string[];
  tagFenced: Set<string>;
  /** A tag was invalidated since it began: nobody joins it. */
  unjoinable: boolean;
  settle: PromiseWithResolvers<string>;
  waiters: Promise<Outcome>[];
  expected: Outcome[];
}

/** The reference model: what a cache with these options must answer. */
class Model {
  entries: ModelEntry[] = [];
  loads: ModelLoad[] = [];
  /** SIEVE's hand: the key it examines next (null: the first). */
  hand: string | null = null;
  /** Tag → keys carrying it, in the order they were tagged (the order an invalidation drops them in). */
  tagged = new Map<string, string[]>();

  constructor(readonly options: Options) {}

  /** The ttl a value gets: moved by the (fixed) random draw, by at most half of it. */
  ttl(ttl: number): number {
    const { ttlJitter, random } = this.options;
    return ttlJitter === 0 ? ttl : ttl + (2 * random - 1) * Math.min(ttlJitter, ttl / 2);
  }

  liveSize(): number {
    return this.entries.reduce((sum, entry) => sum + (entry.live ? entry.size : 0), 0);
  }

  /** The next entry to evict: LRU's least recent value, or the first unvisited value from SIEVE's hand, clearing marks it passes. */
  victim(keep: ModelEntry | undefined): ModelEntry | undefined {
    if (this.options.eviction === 'lru') return this.entries.find((entry) => entry.live && entry !== keep);
    let i = this.hand === null ? 0 : this.entries.findIndex((entry) => entry.key === this.hand);
    for (let steps = 0; steps < 3 * this.entries.length; steps++, i++) {
      if (i >= this.entries.length) i = 0;
      const entry = this.entries[i]!;
      if (entry.live && entry !== keep && !entry.visited) return entry;
      entry.visited = false;
    }
    return undefined;
  }

  /** The key after `key` (null at the end): where the hand goes when its entry leaves. */
  after(key: string): string | null {
    const index = this.entries.findIndex((entry) => entry.key === key);
    return this.entries[index + 1]?.key ?? null;
  }

  find(key: string): ModelEntry | undefined {
    return this.entries.find((entry) => entry.key === key);
  }

  fresh(key: string, now: number): ModelEntry | undefined {
    const entry = this.find(key);
    return entry !== undefined && entry.live && !entry.stale && entry.expiresAt > now ? entry : undefined;
  }

  /** The refresh time of a value stored now with this (jittered) ttl. */
  refreshAt(now: number, ttl: number): number {
    return this.options.refreshAhead === 0 ? Infinity : now + ttl * this.options.refreshAhead;
  }

  /** The value a get of an expired entry inside its stale-while-revalidate window answers with at once. */
  swr(key: string, now: number): string | undefined {
    const entry = this.find(key);
    // A value made stale by expire is not revalidated in the background: the read waits for its load.
    if (entry === undefined || !entry.live || entry.stale || entry.expiresAt > now) return undefined;
    return now < entry.expiresAt + this.options.staleWhileRevalidate ? entry.value : undefined;
  }

  /** A read: a hit moves the entry to the most recent end; a miss drops an entry past its stale windows. */
  read(key: string, now: number): string | undefined {
    const entry = this.fresh(key, now);
    if (entry !== undefined) {
      if (this.options.eviction === 'sieve') entry.visited = true;
      else this.entries = [...this.entries.filter((e) => e !== entry), entry];
      return entry.value;
    }
    const old = this.find(key);
    if (old !== undefined && old.live && old.expiresAt + Math.max(this.options.staleIfError, this.options.staleWhileRevalidate) <= now) this.remove(key);
    return undefined;
  }

  stale(key: string, now: number): string | undefined {
    const entry = this.find(key);
    if (entry === undefined || !entry.live) return undefined;
    return (entry.expiresAt <= now || entry.stale) && now < entry.expiresAt + this.options.staleIfError ? entry.value : undefined;
  }

  untag(key: string): void {
    for (const [tag, keys] of this.tagged) {
      const rest = keys.filter((k) => k !== key);
      if (rest.length === 0) this.tagged.delete(tag);
      else this.tagged.set(tag, rest);
    }
  }

  store(key: string, value: string, expiresAt: number, refreshAt = Infinity, tags: string[] = []): void {
    this.storeValue(key, value, expiresAt, refreshAt);
    if (this.find(key)?.live !== true) return;
    this.untag(key);
    for (const tag of tags) this.tagged.set(tag, [...(this.tagged.get(tag) ?? []), key]);
  }

  storeValue(key: string, value: string, expiresAt: number, refreshAt: number): void {
    const { maxSize, maxEntries } = this.options;
    const size = maxSize === undefined ? 0 : sizeOfValue(value);
    this.fence(key);
    if (maxSize !== undefined && size > maxSize) {
      this.remove(key);
      return;
    }
    const existing = this.find(key);
    let needSlot = existing === undefined && this.entries.length >= maxEntries;
    let needSize = maxSize === undefined ? 0 : this.liveSize() - (existing?.live === true ? existing.size : 0) + size - maxSize;
    if (needSlot && this.entries[0]?.live === false) {
      this.remove(this.entries[0].key);
      needSlot = false;
    }
    while (needSlot || needSize > 0) {
      const victim = this.victim(existing);
      if (victim === undefined) break;
      needSlot = false;
      needSize -= victim.size;
      this.hand = this.after(victim.key);
      this.entries = this.entries.filter((entry) => entry !== victim);
      this.untag(victim.key);
    }
    if (this.options.eviction === 'sieve' && existing?.live === true) {
      Object.assign(existing, { value, expiresAt, size, visited: true, refreshAt, stale: false });
      return;
    }
    this.remove(key);
    this.entries.push({ key, value, expiresAt, live: true, size, visited: false, refreshAt, stale: false });
  }

  remove(key: string): void {
    if (this.hand === key) this.hand = this.after(key);
    this.entries = this.entries.filter((entry) => entry.key !== key);
    this.untag(key);
  }

  /** A soft invalidation: stale now, kept for stale-if-error. */
  expire(key: string, now: number): void {
    const entry = this.find(key);
    if (entry?.live === true) {
      entry.stale = true;
      entry.expiresAt = Math.min(entry.expiresAt, now);
    }
    this.fence(key);
  }

  invalidateTag(tag: string, soft: boolean, now: number): void {
    for (const key of this.tagged.get(tag) ?? []) {
      if (soft) {
        const entry = this.find(key);
        if (entry?.live === true) Object.assign(entry, { stale: true, expiresAt: Math.min(entry.expiresAt, now) });
      } else {
        // By tag, not by key: a load of the key is fenced only if it settles carrying the tag.
        this.invalidate(key, false);
      }
    }
    for (const load of this.loads) {
      load.tagFenced.add(tag);
      load.unjoinable = true;
    }
  }

  invalidatePrefix(prefix: string): void {
    for (const entry of [...this.entries]) if (entry.key.startsWith(prefix)) this.invalidate(entry.key);
    for (const load of this.loads) if (load.key.startsWith(prefix)) load.fenced = true;
  }

  invalidate(key: string, fence = true): void {
    const entry = this.find(key);
    this.untag(key);
    if (entry !== undefined) {
      entry.live = false;
      entry.value = undefined;
      entry.size = 0;
      entry.stale = false;
      if (this.entries[0] !== entry && this.hand === key) this.hand = this.after(key);
      this.entries = [entry, ...this.entries.filter((e) => e !== entry)];
    }
    if (fence) this.fence(key);
  }

  invalidateAll(): void {
    for (const entry of this.entries) {
      entry.live = false;
      entry.value = undefined;
      entry.size = 0;
      entry.stale = false;
    }
    this.tagged.clear();
    this.fence(undefined);
  }

  fence(key: string | undefined): void {
    for (const load of this.loads) if (key === undefined || load.key === key) load.fenced = true;
  }
}

async function runHistory(options: Options, commands: Command[]): Promise<void> {
  const clock = sinon.useFakeTimers({ now: 1_000 });
  const random = sinon.stub(Math, 'random').returns(options.random);
  try {
    const { maxEntries, ttl, staleIfError, eviction, maxSize, ttlJitter, staleWhileRevalidate } = options;
    const ahead = options.refreshAhead === 0 ? {} : { refreshAhead: options.refreshAhead };
    const sized = maxSize === undefined ? {} : { maxSize, sizeOf: sizeOfValue };
    const cache = createCache<string>({ name: 'model', maxEntries, ttl, staleIfError, eviction, ttlJitter, staleWhileRevalidate, ...ahead, ...sized });
    const events: CacheEvent<string>[] = [];
    cache.subscribe((event) => events.push(event));
    const model = new Model(options);
    /** Stores a value as the cache does now: its (jittered) ttl, and its refresh time from it. */
    const storeNow = (key: string, value: string, now: number, ttl: number, tags: string[] = []): void => {
      const jittered = model.ttl(ttl);
      model.store(key, value, now + jittered, model.refreshAt(now, jittered), tags);
    };
    const held = (key: string, tags: string[], settle: PromiseWithResolvers<string>, waiters: Promise<Outcome>[]): ModelLoad => ({ key, fenced: false, tags, tagFenced: new Set(), unjoinable: false, settle, waiters, expected: [] });
    let counter = 0;
    const fresh = () => `v${++counter}`;
    const outcome = (promise: Promise<string>): Promise<Outcome> =>
      promise.then(
        (value) => ({ value }),
        (error: unknown) => ({ error: (error as Error).message }),
      );

    for (const step of commands) {
      const now = Date.now();
      switch (step.kind) {
        case 'getSync': {
          const expected = model.read(step.key, now);
          const value = fresh();
          let actual: Outcome;
          try {
            actual = {
              value: cache.getSync(step.key, () => {
                if (step.fail) throw new Error('load failed');
                return value;
              }),
            };
          } catch (error) {
            actual = { error: (error as Error).message };
          }
          if (expected !== undefined) {
            expect(actual, 'getSync hit').to.deep.equal({ value: expected });
          } else if (step.fail) {
            const stale = model.stale(step.key, now);
            expect(actual, 'getSync failing load').to.deep.equal(stale === undefined ? { error: 'load failed' } : { value: stale });
          } else {
            expect(actual, 'getSync load').to.deep.equal({ value });
            storeNow(step.key, value, now, options.ttl);
          }
          break;
        }
        case 'get':
        case 'hold': {
          const stale = model.swr(step.key, now);
          const expected = model.read(step.key, now);
          // A load fenced by an invalidation or a newer value is never joined (contract point 1), nor one a tag invalidation may concern.
          const joined = model.loads.find((load) => load.key === step.key && !load.fenced && !load.unjoinable);
          const value = fresh();
          const settle = Promise.withResolvers<string>();
          const loader = step.kind === 'get' ? () => value : () => settle.promise;
          const result = outcome(cache.get(step.key, loader, { tags: step.tags }));
          const entry = model.find(step.key);
          const refresh = expected !== undefined && entry !== undefined && entry.refreshAt <= now;
          if (expected !== undefined || stale !== undefined) {
            // A hit, or an expired value inside its stale-while-revalidate window: answered at once.
            expect(await result, `${step.kind} ${expected === undefined ? 'stale' : 'hit'}`).to.deep.equal({ value: expected ?? stale });
            // Past its refresh time, or served stale: one background load, unless one is in flight (single flight).
            if ((refresh || stale !== undefined) && joined === undefined) {
              if (refresh) entry.refreshAt = Infinity;
              if (step.kind === 'get') storeNow(step.key, value, now, options.ttl, step.tags);
              else model.loads.push(held(step.key, step.tags, settle, []));
            }
          } else if (joined !== undefined) {
            joined.waiters.push(result);
          } else if (step.kind === 'get') {
            expect(await result, 'get load').to.deep.equal({ value });
            storeNow(step.key, value, now, options.ttl, step.tags);
          } else {
            model.loads.push(held(step.key, step.tags, settle, [result]));
          }
          break;
        }
        case 'release': {
          if (model.loads.length === 0) break;
          const load = model.loads.splice(step.pick % model.loads.length, 1)[0]!;
          const value = fresh();
          let expected: Outcome;
          if (step.fail) {
            load.settle.reject(new Error('held load failed'));
            // Fencing stops a value from being stored, not a newer value from being served stale.
            const stale = model.stale(load.key, now);
            expected = stale === undefined ? { error: 'held load failed' } : { value: stale };
          } else {
            load.settle.resolve(value);
            expected = { value };
            if (!load.fenced && !load.tags.some((t) => load.tagFenced.has(t))) storeNow(load.key, value, now, options.ttl, load.tags);
          }
          const results = await Promise.all(load.waiters);
          for (const result of results) expect(result, 'held load callers').to.deep.equal(expected);
          break;
        }
        case 'set': {
          const value = fresh();
          cache.set(step.key, value, step.ttl === undefined ? { tags: step.tags } : { ttl: step.ttl, tags: step.tags });
          storeNow(step.key, value, now, step.ttl ?? options.ttl, step.tags);
          break;
        }
        case 'invalidate':
          await cache.invalidate(step.key);
          model.invalidate(step.key);
          break;
        case 'invalidateTag':
          await (step.soft ? cache.expireTag(step.tag) : cache.invalidateTag(step.tag));
          model.invalidateTag(step.tag, step.soft, now);
          break;
        case 'expire':
          await cache.expire(step.key);
          model.expire(step.key, now);
          break;
        case 'invalidateNamespace':
          await cache.namespace('n').invalidateAll();
          model.invalidatePrefix('n:');
          break;
        case 'invalidateAll':
          await cache.invalidateAll();
          model.invalidateAll();
          break;
        case 'clear':
          cache.clear();
          model.entries = [];
          model.hand = null;
          model.tagged.clear();
          model.fence(undefined);
          break;
        case 'tick':
          clock.tick(step.ms);
          break;
        case 'peek':
          expect(cache.peek(step.key), 'peek').to.equal(model.fresh(step.key, now)?.value);
          break;
      }
      expect(cache.stats().size, 'size').to.equal(model.entries.filter((e) => e.live).length);
      expect(cache.stats().entriesSize, 'entriesSize').to.equal(model.liveSize());
    }

    // Let held loads finish so the history ends with every load settled as well as mid-flight.
    for (const load of model.loads) load.settle.resolve(fresh());
    await Promise.all(model.loads.flatMap((load) => load.waiters));

    expectReplayMatches(cache, events);
  } finally {
    random.restore();
    clock.restore();
  }
}

describe('event sourcing: replay equals the live cache (property)', function () {
  // 300 histories of up to 60 commands: about 2 s on a quiet 2-core machine.
  this.timeout(60_000);

  it('for random histories of reads, loads, writes, invalidations, capacity pressure and time', async () => {
    await fc.assert(
      fc.asyncProperty(config, fc.array(command, { minLength: 1, maxLength: 60 }), (options, commands) => runHistory(options, commands)),
      { numRuns: Number(process.env.RUNS ?? 3000) },
    );
  });

  it('replays a mid-flight history too (loads still running)', async () => {
    const clock = sinon.useFakeTimers({ now: 0 });
    try {
      const cache = createCache<string>({ name: 'midflight', maxEntries: 2 });
      const events: CacheEvent<string>[] = [];
      cache.subscribe((event) => events.push(event));
      const held = Promise.withResolvers<string>();
      const pending = cache.get('a', () => held.promise);
      cache.set('b', 'B');
      await cache.invalidate('a');
      expect(replay(events)).to.deep.equal(cache.snapshot());
      expect(cache.snapshot().loads).to.have.length(1);
      held.resolve('A');
      await pending;
      expect(replay(events)).to.deep.equal(cache.snapshot());
    } finally {
      clock.restore();
    }
  });
});
