/**
 * A Keyv store over a coherent cache: what cache-manager 7 and
 * @nestjs/cache-manager take as a store (`stores: [keyv]`), so their `get`,
 * `set`, `wrap` and `del` run on an in-process layer that stays coherent
 * across processes. Values never leave the process: only keys are published.
 *
 * Keyv's operations map onto the cache's:
 * - `get` is a read without a loader: the fresh entry (a hit, as the cache
 *   counts it) or nothing. An entry past the `expires` Keyv wrote into it
 *   (or within a few ms of it) is a miss here, so that Keyv never deletes it
 *   itself: a Keyv delete is an invalidation of every instance.
 * - `set` stores on this instance only. Keyv cannot tell a fill (what
 *   cache-manager's `wrap` and NestJS's CacheInterceptor do after a miss) from
 *   a write, and publishing every fill would have each instance's misses drop
 *   the others' entries. A set of a key not cached here goes through the
 *   cache's read-through, so it counts as the miss and load it completes.
 * - `delete` is `invalidate(key)`: dropped here and on every other instance,
 *   resolved once the message was accepted (rejected as `invalidate()` is).
 *   After a write to the source, `del` the key.
 * - `clear` is `invalidateAll()`.
 *
 * Fencing. The cache never stores a load that an invalidation overtook; a
 * fill here is loaded by cache-manager, out of the cache's sight. So after an
 * invalidation of a key reaches this instance (from here or elsewhere), sets of
 * that key are refused (`false`) until `fillWindow` ms after the latest miss of
 * it that came before the invalidation: a fill begun before the write could
 * carry the value it replaced. A key with no such miss is not held. An
 * invalidation of everything, a local `clear()` and a lost link hold every key
 * the same way. A fill slower than `fillWindow` is not fenced.
 */
import { Keyv, type KeyvStoreAdapter } from 'keyv';
import type { Cache } from '../cache/cache.ts';

export interface KeyvStoreOptions {
  /** The longest a fill may take, from its miss to its set, and still be fenced, in ms. Default 10 000. */
  fillWindow?: number;
}

const DEFAULT_FILL_WINDOW = 10_000;
/** Misses remembered at most; older ones are summed up in one time, as if they were for every key. */
const MAX_TRACKED = 10_000;
/** An entry this close to its Keyv `expires` is a miss already (Keyv reads the clock again after us). */
const EXPIRY_MARGIN = 5;

/** What Keyv stores (with serialization off): the value and its expiry time. */
interface KeyvRecord {
  readonly expires?: number | null;
}

function isExpired(stored: unknown, now: number): boolean {
  const expires = typeof stored === 'object' && stored !== null ? (stored as KeyvRecord).expires : undefined;
  return typeof expires === 'number' && now >= expires - EXPIRY_MARGIN;
}

function unreachable(): never {
  throw new Error('coherent-cache keyv store: a fresh entry was not served');
}

/** The Keyv store adapter. Values are what Keyv hands it: kept as they are, in this process. */
export class KeyvCoherentStore<V = unknown> implements KeyvStoreAdapter {
  readonly opts: { readonly cache: string; readonly fillWindow: number };
  /** Set by Keyv; keys are used as Keyv passes them (createKeyv turns its prefix off). */
  namespace?: string | undefined;
  private readonly cache: Cache<V>;
  private readonly fillWindow: number;
  /** Each key's latest miss (ms), oldest first. */
  private readonly misses = new Map<string, number>();
  /** The latest miss forgotten for room, which then counts for every key. */
  private forgottenMiss = -Infinity;
  private latestMiss = -Infinity;
  /** Keys whose sets are refused until then. */
  private readonly held = new Map<string, number>();
  private allHeldUntil = -Infinity;

  constructor(cache: Cache<V>, options: KeyvStoreOptions = {}) {
    const fillWindow = options.fillWindow ?? DEFAULT_FILL_WINDOW;
    if (typeof fillWindow !== 'number' || !Number.isFinite(fillWindow) || fillWindow < 0) {
      throw new TypeError(`coherent-cache keyv store: fillWindow must be a non-negative, finite number of ms, got ${String(fillWindow)}`);
    }
    this.cache = cache;
    this.fillWindow = fillWindow;
    this.opts = { cache: cache.name, fillWindow };
    cache.on('invalidated', (event) => (event.scope === 'key' ? this.hold(event.key) : this.holdAll()));
    cache.on('cleared', () => this.holdAll());
    cache.on('link.changed', (event) => {
      if (event.state === 'degraded') this.holdAll();
    });
  }

  get<T>(key: string): Promise<T | undefined> {
    const stored = this.cache.peek(key);
    if (stored === undefined || isExpired(stored, Date.now())) {
      this.noteMiss(key);
      return Promise.resolve(undefined);
    }
    // Fresh: read it the cache's way, so it counts as a hit and stays recent.
    return Promise.resolve(this.cache.getSync(key, unreachable) as unknown as T);
  }

  set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    try {
      if (this.isHeld(key, Date.now())) return Promise.resolve(false);
      const options = typeof ttl === 'number' && ttl > 0 ? { ttl } : undefined;
      if (this.cache.has(key)) this.cache.set(key, value as V, options);
      else this.cache.getSync(key, () => value as V, options);
      return Promise.resolve(true);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  async delete(key: string): Promise<boolean> {
    await this.cache.invalidate(key);
    return true;
  }

  clear(): Promise<void> {
    return this.cache.invalidateAll();
  }

  has(key: string): Promise<boolean> {
    const stored = this.cache.peek(key);
    return Promise.resolve(stored !== undefined && !isExpired(stored, Date.now()));
  }

  /** Keyv listens for the store's errors; this store reports them by rejecting instead. */
  on(): this {
    return this;
  }

  private noteMiss(key: string): void {
    const now = Date.now();
    this.misses.delete(key);
    this.misses.set(key, now);
    this.latestMiss = Math.max(this.latestMiss, now);
    if (this.misses.size > MAX_TRACKED) {
      for (const [oldest, at] of this.misses) {
        this.misses.delete(oldest);
        this.forgottenMiss = Math.max(this.forgottenMiss, at);
        break;
      }
    }
  }

  private hold(key: string): void {
    const now = Date.now();
    this.forgetBefore(now - this.fillWindow);
    const until = Math.max(this.misses.get(key) ?? -Infinity, this.forgottenMiss) + this.fillWindow;
    if (until > now && until > (this.held.get(key) ?? -Infinity)) this.held.set(key, until);
  }

  private holdAll(): void {
    const now = Date.now();
    const until = this.latestMiss + this.fillWindow;
    if (until > now) this.allHeldUntil = Math.max(this.allHeldUntil, until);
    this.forgetBefore(now - this.fillWindow);
  }

  private isHeld(key: string, now: number): boolean {
    if (this.allHeldUntil > now) return true;
    const until = this.held.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.held.delete(key);
    return false;
  }

  /** Misses older than `since` can no longer be fenced; holds that ended are dropped. */
  private forgetBefore(since: number): void {
    for (const [key, at] of this.misses) {
      if (at > since) break;
      this.misses.delete(key);
    }
    if (this.forgottenMiss <= since) this.forgottenMiss = -Infinity;
    if (this.held.size > MAX_TRACKED) {
      const now = since + this.fillWindow;
      for (const [key, until] of this.held) if (until <= now) this.held.delete(key);
    }
  }
}

/**
 * A Keyv over the cache, as cache-manager 7 and @nestjs/cache-manager take
 * it: `createCache({ stores: [createKeyv(cache)] })`. Values are stored as
 * they are (no serialization: this layer is in process), keys without Keyv's
 * `keyv:` prefix (they are the cache's keys, so `cache.invalidate(key)` and
 * the legacy channel speak of the same ones), and errors reject (a `del`
 * whose invalidation was not accepted rejects, as `invalidate()` does).
 */
export function createKeyv<V>(cache: Cache<V>, options: KeyvStoreOptions = {}): Keyv {
  const keyv = new Keyv({ store: new KeyvCoherentStore(cache, options), useKeyPrefix: false, throwOnErrors: true });
  keyv.serialize = undefined;
  keyv.deserialize = undefined;
  return keyv;
}
