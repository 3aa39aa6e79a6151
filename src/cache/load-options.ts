/**
 * The options that let reads skip waiting for a loader: `staleWhileRevalidate`
 * and `refreshAhead`, and the checks of what a loader sets on its context.
 */
import { CacheOptionError } from './errors.ts';
import { describe, nonNegativeMs } from './validate.ts';

export interface LoadOptions {
  readonly staleWhileRevalidate: number;
  /** 0: off. */
  readonly refreshAhead: number;
}

export function loadOptions(options: { staleWhileRevalidate?: unknown; refreshAhead?: unknown }): LoadOptions {
  const { refreshAhead } = options;
  // 0 and 1 are refused, not treated as off: a reload on every hit, or never before expiry, is a mistake either way.
  if (refreshAhead !== undefined && (typeof refreshAhead !== 'number' || !(refreshAhead > 0 && refreshAhead < 1))) {
    throw new CacheOptionError('refreshAhead', `must be a fraction of the ttl strictly between 0 and 1 (e.g. 0.8), got ${describe(refreshAhead)}`);
  }
  return {
    staleWhileRevalidate: nonNegativeMs('staleWhileRevalidate', options.staleWhileRevalidate ?? 0),
    refreshAhead: refreshAhead ?? 0,
  };
}

/** What a loader left in `ctx.ttl` / `ctx.staleIfError`, checked: a bad value fails the load (it is never cached). */
export function loaderDecisions(cacheName: string, ttl: unknown, staleIfError: unknown): { ttl: number; staleIfError: number } {
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) {
    throw new TypeError(`cache "${cacheName}": the loader set ctx.ttl to ${describe(ttl)}; it must be a positive, finite number of ms`);
  }
  if (typeof staleIfError !== 'number' || !Number.isFinite(staleIfError) || staleIfError < 0) {
    throw new TypeError(`cache "${cacheName}": the loader set ctx.staleIfError to ${describe(staleIfError)}; it must be a finite number of ms ≥ 0`);
  }
  return { ttl, staleIfError };
}
