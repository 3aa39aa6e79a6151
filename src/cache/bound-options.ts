/**
 * The options that bound and spread what the cache keeps: `maxSize` with
 * `sizeOf`, `eviction` and `ttlJitter`, and the checks each value `sizeOf`
 * returns must pass.
 */
import type { EvictionPolicy } from '../core/state.ts';
import { CacheOptionError } from './errors.ts';
import { describe, integerIn, nonNegativeMs } from './validate.ts';

/** Measures a value for `maxSize` (bytes, usually): a whole number ≥ 0. */
export type SizeOf<V = never> = (value: V, key: string) => number;

export interface BoundOptions {
  readonly maxSize: number;
  readonly sizeOf: SizeOf<unknown> | undefined;
  readonly eviction: EvictionPolicy;
  readonly ttlJitter: number;
}

const EVICTIONS: readonly EvictionPolicy[] = ['lru', 'sieve'];

export function boundOptions(options: { maxSize?: unknown; sizeOf?: unknown; eviction?: unknown; ttlJitter?: unknown }): BoundOptions {
  const { sizeOf } = options;
  if (sizeOf !== undefined && typeof sizeOf !== 'function') throw new CacheOptionError('sizeOf', `must be a function (value, key) => number, got ${describe(sizeOf)}`);
  const maxSize = options.maxSize === undefined ? Infinity : integerIn('maxSize', options.maxSize, 1, Number.MAX_SAFE_INTEGER);
  // One without the other is a mistake either way: a bound nothing measures, or a measure nothing bounds.
  if (maxSize !== Infinity && sizeOf === undefined) throw new CacheOptionError('maxSize', 'must come with sizeOf (value, key) => number to measure each value, got no sizeOf');
  if (maxSize === Infinity && sizeOf !== undefined) throw new CacheOptionError('sizeOf', 'is not used without maxSize: set maxSize too, or drop sizeOf; got no maxSize');
  const eviction = options.eviction ?? 'lru';
  if (!EVICTIONS.includes(eviction as EvictionPolicy)) throw new CacheOptionError('eviction', `must be one of ${EVICTIONS.map((e) => `'${e}'`).join(', ')}, got ${describe(eviction)}`);
  return {
    maxSize,
    sizeOf: sizeOf as SizeOf<unknown> | undefined,
    eviction: eviction as EvictionPolicy,
    ttlJitter: nonNegativeMs('ttlJitter', options.ttlJitter ?? 0),
  };
}

/** What `sizeOf` measured for one value: a whole number ≥ 0, or a TypeError naming the key's cache. */
export function measuredSize(cacheName: string, size: unknown): number {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new TypeError(`cache "${cacheName}": sizeOf must return a whole number ≥ 0, got ${describe(size)}`);
  }
  return size;
}

/**
 * A ttl moved by up to ±`jitter` (`random` in [0, 1)), never by more than half
 * the ttl, so instances that stored a key together do not all expire it together.
 */
export function jittered(ttl: number, jitter: number, random: number): number {
  if (jitter === 0) return ttl;
  return ttl + (2 * random - 1) * Math.min(jitter, ttl / 2);
}
