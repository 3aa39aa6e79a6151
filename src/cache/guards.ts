/** The argument checks of the cache's methods that need nothing of the cache. */
import type { EntryOptions } from './cache-types.ts';
import { nonNegativeMs } from './validate.ts';

const NO_WINDOW = Object.freeze({});

/** A rejected promise for an error a synchronous check threw (always an Error here). */
export function rejected<T>(error: unknown): Promise<T> {
  return Promise.reject(error instanceof Error ? error : new Error(String(error)));
}

export function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new TypeError(`cache keys are strings, got ${typeof key}`);
}

/** The per-call stale-while-revalidate window a command carries, checked (nothing: the cache's). */
export function perCallWindow(options: EntryOptions | undefined): { readonly staleWhileRevalidate?: number } {
  const swr = options?.staleWhileRevalidate;
  return swr === undefined ? NO_WINDOW : { staleWhileRevalidate: nonNegativeMs('staleWhileRevalidate', swr) };
}
