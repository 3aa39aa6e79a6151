/** The argument checks of the cache's methods that need nothing of the cache. */

/** A rejected promise for an error a synchronous check threw (always an Error here). */
export function rejected<T>(error: unknown): Promise<T> {
  return Promise.reject(error instanceof Error ? error : new Error(String(error)));
}

export function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new TypeError(`cache keys are strings, got ${typeof key}`);
}
