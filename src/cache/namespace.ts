/**
 * `cache.namespace(name)`: a view whose keys and tags live under
 * `name` + ':' (inside its parent's prefix), so tenants share one cache
 * without sharing keys or tags. Its `invalidateAll` drops only its own keys,
 * on every instance, as one message; nested namespaces go with it.
 */
import type { EntryOptions } from './cache-types.ts';
import type { InvalidateOptions } from './invalidate-options.ts';
import type { Loader, LoadContext, SyncLoader } from './load-runner.ts';

/** Reading, writing and invalidating: the cache's own surface, and a namespace's (`cache.namespace(name)`). */
export interface CacheView<V> {
  get(key: string, loader: Loader<V>, options?: EntryOptions): Promise<V>;
  getSync(key: string, loader: SyncLoader<V>, options?: EntryOptions): V;
  peek(key: string): V | undefined;
  has(key: string): boolean;
  set(key: string, value: V, options?: EntryOptions): void;
  /** Drops `key` here and on every other instance (see `Cache.invalidate`; `{ ack: 'all' }` waits for the peers' confirmations). */
  invalidate(key: string, options?: InvalidateOptions): Promise<void>;
  /** Every key of the cache, or of the namespace (nested ones included), on every instance; `{ ack: 'all' }` as for `invalidate`. */
  invalidateAll(options?: InvalidateOptions): Promise<void>;
  /**
   * Drops every value carrying `tag`, here and on every other instance (one
   * message). Fenced like a key: a load begun before it that settles with the
   * tag is not stored, and no read begun after it joins a load begun before it. `{ ack: 'all' }` as for `invalidate`.
   */
  invalidateTag(tag: string, options?: InvalidateOptions): Promise<void>;
  /** Soft invalidation: `key` goes stale here and everywhere (the next read loads), but is kept for `staleIfError` should that load fail. */
  expire(key: string, options?: InvalidateOptions): Promise<void>;
  /** `expire` for every value carrying `tag` (one message). */
  expireTag(tag: string, options?: InvalidateOptions): Promise<void>;
  /** A view whose keys and tags are prefixed with `name` + ':' (inside this one's). */
  namespace(name: string): CacheView<V>;
}

/** What a namespace view needs of its cache: its surface, and an invalidation of the keys under a prefix. */
export interface NamespaceHost<V> extends CacheView<V> {
  readonly name: string;
  /** @internal A namespace's invalidateAll: every key starting with `prefix`, on every instance (one message). */
  invalidatePrefix(prefix: string, options?: InvalidateOptions): Promise<void>;
}

/** Between a namespace's name and what it holds. */
export const NAMESPACE_SEPARATOR = ':';

export class NamespaceView<V> implements CacheView<V> {
  /** What its keys and tags start with. */
  readonly prefix: string;

  constructor(
    private readonly cache: NamespaceHost<V>,
    parentPrefix: string,
    name: string,
  ) {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError(`cache "${cache.name}": a namespace name is a non-empty string, got ${name === '' ? 'an empty string' : typeof name}`);
    this.prefix = parentPrefix + name + NAMESPACE_SEPARATOR;
  }

  /** The loader sees the key and tags as the namespace names them. */
  get(key: string, loader: Loader<V>, options?: EntryOptions): Promise<V> {
    const prefix = this.prefix;
    const inner = (_full: string, context: LoadContext): V | PromiseLike<V> => {
      const own: LoadContext = { ...context, tags: context.tags.map((tag) => tag.slice(prefix.length)) };
      // What the loader set goes back to the cache's context, its tags under the prefix.
      const settle = (value: V): V => {
        Object.assign(context, own, { tags: own.tags.map((tag) => prefix + tag) });
        return value;
      };
      const result = loader(key, own);
      return isThenable(result) ? Promise.resolve(result).then(settle) : settle(result);
    };
    return this.cache.get(prefix + key, inner, this.options(options));
  }

  getSync(key: string, loader: SyncLoader<V>, options?: EntryOptions): V {
    return this.cache.getSync(this.prefix + key, () => loader(key), this.options(options));
  }

  peek(key: string): V | undefined {
    return this.cache.peek(this.prefix + key);
  }

  has(key: string): boolean {
    return this.cache.has(this.prefix + key);
  }

  set(key: string, value: V, options?: EntryOptions): void {
    this.cache.set(this.prefix + key, value, this.options(options));
  }

  invalidate(key: string, options?: InvalidateOptions): Promise<void> {
    return this.cache.invalidate(this.prefix + key, options);
  }

  invalidateAll(options?: InvalidateOptions): Promise<void> {
    return this.cache.invalidatePrefix(this.prefix, options);
  }

  invalidateTag(tag: string, options?: InvalidateOptions): Promise<void> {
    return this.cache.invalidateTag(this.prefix + tag, options);
  }

  expire(key: string, options?: InvalidateOptions): Promise<void> {
    return this.cache.expire(this.prefix + key, options);
  }

  expireTag(tag: string, options?: InvalidateOptions): Promise<void> {
    return this.cache.expireTag(this.prefix + tag, options);
  }

  namespace(name: string): CacheView<V> {
    return new NamespaceView(this.cache, this.prefix, name);
  }

  /** Its tags under its prefix (the same object when there are none). */
  private options(options: EntryOptions | undefined): EntryOptions | undefined {
    const tags = options?.tags;
    if (tags === undefined || !Array.isArray(tags)) return options;
    return { ...options, tags: tags.map((tag: unknown) => (typeof tag === 'string' && tag.length > 0 ? this.prefix + tag : tag) as string) };
  }
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
