/** Errors the cache throws or rejects with, each with a stable `name` callers can test. */

/** A `get` waited longer than `loadTimeout` for its loader. The loader keeps running. */
export class LoadTimeoutError extends Error {
  override readonly name = 'LoadTimeoutError';
  constructor(
    readonly cacheName: string,
    readonly key: string,
    readonly timeoutMs: number,
  ) {
    super(`cache "${cacheName}": loader did not settle within loadTimeout (${timeoutMs} ms)`);
  }
}

/** The cache was used after `close()`. */
export class CacheClosedError extends Error {
  override readonly name = 'CacheClosedError';
  constructor(readonly cacheName: string) {
    super(`cache "${cacheName}" is closed`);
  }
}

/** An option passed to `createCache` (or a per-call option) is invalid; the message names it. */
export class CacheOptionError extends TypeError {
  override readonly name = 'CacheOptionError';
  constructor(
    readonly option: string,
    problem: string,
  ) {
    super(`coherent-cache: option "${option}" ${problem}`);
  }
}

/**
 * An error's class name for events, spans and logs, never its message (which
 * may quote a value). A `name` that does not look like a class name is
 * reported as `Error`: a custom name is caller-controlled text too.
 */
export function errorType(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  return /^[A-Za-z_$][\w$]{0,63}$/.test(error.name) ? error.name : 'Error';
}
