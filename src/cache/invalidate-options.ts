/** The per-call options of `invalidate` and `invalidateAll`, and their checks. */
import { CacheOptionError } from './errors.ts';
import { describe, timerMs } from './validate.ts';

export interface InvalidateOptions {
  /**
   * `'all'`: resolve only once every peer live at the call (known by its
   * heartbeats) confirmed it dropped the key; reject with AckTimeoutError,
   * naming the others, after `timeout`. Default: resolve once the transport
   * accepted the message.
   */
  ack?: 'all';
  /** With `ack`: how long to wait for the confirmations, in ms. Default the cache's invalidateTimeout. */
  timeout?: number;
}

/** The confirmation timeout `options` ask for (undefined: no confirmation); throws CacheOptionError on a bad option. */
export function ackTimeoutOf(options: unknown, fallback: number): number | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new CacheOptionError('invalidate options', `must be an object, got ${describe(options)}`);
  const { ack, timeout, ...rest } = options as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw new CacheOptionError(unknown, 'is not an option of invalidate (ack, timeout)');
  if (ack === undefined) {
    if (timeout !== undefined) throw new CacheOptionError('timeout', "is only used with ack: 'all'");
    return undefined;
  }
  if (ack !== 'all') throw new CacheOptionError('ack', `must be 'all', got ${describe(ack)}`);
  return timeout === undefined ? fallback : timerMs('timeout', timeout);
}
