/** The key set and random walk shared by the hit-path scenarios. */
import type { CacheStats } from '../src/index.ts';
import { randomIndices } from './harness.ts';

export const KEY_COUNT = 1_000;
/** 64k precomputed random indices, walked with a mask. */
export const WALK_LENGTH = 1 << 16;
export const WALK_MASK = WALK_LENGTH - 1;

export const keys: readonly string[] = Array.from({ length: KEY_COUNT }, (_, i) => `k${i}`);
export const walk: Uint32Array = randomIndices(WALK_LENGTH, KEY_COUNT);

/** The value stored under `k${i}` is `i` in every hit-path scenario. */
export function valueOf(key: string): number {
  return Number(key.slice(1));
}

export const HIT_TTL_MS = 60_000;
export const HIT_MAX = 10_000;

/** Misses of every reason: a hit-path benchmark must end with none. */
export function missesOf(stats: CacheStats): number {
  return stats.misses.absent + stats.misses.expired + stats.misses.invalidated;
}
