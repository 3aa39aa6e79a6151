/**
 * Synthetic key traces for the hit-ratio scenario, deterministic (fixed
 * seeds): a Zipf popularity over a key space, and the same with scans mixed in
 * (bursts of keys read once and never again: a report, a backfill, a crawler),
 * the pattern that flushes an LRU.
 */
import { seededRandom } from './harness.ts';

export interface Trace {
  readonly name: string;
  /** Key indices; scan keys are numbered past the Zipf key space. */
  readonly keys: Uint32Array;
}

/** Draws Zipf(alpha) ranks in [0, keySpace) by binary search over the cumulative weights. */
function zipfSampler(keySpace: number, alpha: number, seed: number): () => number {
  const cumulative = new Float64Array(keySpace);
  let total = 0;
  for (let rank = 0; rank < keySpace; rank++) {
    total += 1 / (rank + 1) ** alpha;
    cumulative[rank] = total;
  }
  const random = seededRandom(seed);
  // Ranks map to keys through a fixed permutation, so popularity does not follow key order.
  const permutation = Uint32Array.from({ length: keySpace }, (_, i) => i);
  for (let i = keySpace - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [permutation[i], permutation[j]] = [permutation[j] as number, permutation[i] as number];
  }
  return () => {
    const target = random() * total;
    let low = 0;
    let high = keySpace - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((cumulative[mid] as number) < target) low = mid + 1;
      else high = mid;
    }
    return permutation[low] as number;
  };
}

export function zipfTrace(length: number, keySpace: number, alpha: number): Trace {
  const next = zipfSampler(keySpace, alpha, 0x2545f491);
  return { name: `Zipf ${alpha}`, keys: Uint32Array.from({ length }, next) };
}

/**
 * Zipf reads with a scan every `period` reads: `scanLength` keys read once,
 * in order, never seen before or after.
 */
export function zipfScanTrace(length: number, keySpace: number, alpha: number, period: number, scanLength: number): Trace {
  const next = zipfSampler(keySpace, alpha, 0x2545f491);
  const keys = new Uint32Array(length);
  let scanned = 0;
  for (let i = 0; i < length; ) {
    for (let j = 0; j < period && i < length; j++) keys[i++] = next();
    for (let j = 0; j < scanLength && i < length; j++) keys[i++] = keySpace + scanned++;
  }
  return { name: `Zipf ${alpha} + scans`, keys };
}
