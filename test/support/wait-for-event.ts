import type { Cache, CacheEvent } from '../../src/index.ts';

/**
 * Resolves with the first event (from now on) that matches, or rejects after
 * `timeoutMs` naming what it waited for: tests wait on what happened, not on time.
 */
export function waitForEvent<V, E extends CacheEvent<V>>(
  cache: Cache<V>,
  what: string,
  matches: (event: CacheEvent<V>) => event is E,
  timeoutMs?: number,
): Promise<E>;
export function waitForEvent<V>(cache: Cache<V>, what: string, matches: (event: CacheEvent<V>) => boolean, timeoutMs?: number): Promise<CacheEvent<V>>;
export function waitForEvent<V>(cache: Cache<V>, what: string, matches: (event: CacheEvent<V>) => boolean, timeoutMs = 10_000): Promise<CacheEvent<V>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`cache "${cache.name}": no ${what} within ${timeoutMs} ms`));
    }, timeoutMs);
    const stop = cache.subscribe((event) => {
      if (!matches(event)) return;
      clearTimeout(timer);
      stop();
      resolve(event);
    });
  });
}

export const isLink =
  (state: 'connected' | 'degraded') =>
  <V>(event: CacheEvent<V>): boolean =>
    event.type === 'link.changed' && event.state === state;
