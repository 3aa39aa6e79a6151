/**
 * The coherence checker. Every write bumps the config's version in the store;
 * every read reports the version it served. A write counts from the moment its
 * PUT returned (its invalidation was acknowledged): a read that STARTED after
 * that moment and served an older version is stale, by
 *
 *     staleness = read start − ack time of the earliest such write
 *
 * (the earliest acknowledged write the read should already have seen). Reads
 * that started before the ack may legitimately serve the old version and are
 * not judged. Both times come from the load generator's clock (the primary's
 * `performance.now()`), so no cross-process clock skew enters the verdict.
 *
 * Per key, the acknowledged versions kept increase with their ack times (the
 * load generator never has two writes of one key in flight); the lookups rely on it.
 */

export interface StaleRead {
  readonly key: string;
  readonly worker: number;
  readonly served: number;
  /** The version of the earliest acknowledged write the read should have seen. */
  readonly expected: number;
  readonly stalenessMs: number;
}

export interface CheckerVerdict {
  readonly boundMs: number;
  readonly writesAcked: number;
  /** Reads that started after at least one acknowledged write of their key. */
  readonly readsChecked: number;
  /** Reads that served an older version than an acknowledged write (within the bound or not). */
  readonly staleReads: number;
  readonly worstStalenessMs: number;
  readonly worst: StaleRead | undefined;
  /** Stale reads past the bound: any makes the run fail. */
  readonly violations: number;
  readonly ok: boolean;
}

interface Ack {
  readonly version: number;
  readonly at: number;
}

export class CoherenceChecker {
  private readonly acks = new Map<string, Ack[]>();
  private writesAcked = 0;
  private readsChecked = 0;
  private staleReads = 0;
  private violations = 0;
  private worst: StaleRead | undefined;

  constructor(readonly boundMs: number) {}

  /** A PUT of `key` returned at `at` (load-generator clock) having written `version`. */
  writeAcked(key: string, version: number, at: number): void {
    let list = this.acks.get(key);
    if (list === undefined) {
      list = [];
      this.acks.set(key, list);
    }
    this.writesAcked++;
    const last = list.at(-1);
    // Acks arrive in time order. An older version acknowledged after a newer one (a write that
    // outlived its client's timeout) adds nothing: reads after it must already serve the newer one.
    if (last !== undefined && version <= last.version) return;
    list.push({ version, at });
  }

  /**
   * A read of `key` that started at `startedAt` served `version`. Returns the
   * read's staleness in ms when it was stale, else undefined. Call it when the
   * read completes: every write acknowledged before it started is known by then.
   */
  readServed(key: string, worker: number, startedAt: number, version: number): number | undefined {
    const list = this.acks.get(key);
    if (list === undefined) return undefined;
    // Acks strictly before the read started: list[0 .. seen).
    const seen = firstIndex(list.length, (i) => (list[i] as Ack).at >= startedAt);
    if (seen === 0) return undefined;
    this.readsChecked++;
    // The earliest of them with a newer version than the one served.
    const newer = firstIndex(seen, (i) => (list[i] as Ack).version > version);
    if (newer === seen) return undefined;
    const missed = list[newer] as Ack;
    const stalenessMs = startedAt - missed.at;
    this.staleReads++;
    if (stalenessMs > this.boundMs) this.violations++;
    if (this.worst === undefined || stalenessMs > this.worst.stalenessMs) {
      this.worst = { key, worker, served: version, expected: missed.version, stalenessMs };
    }
    return stalenessMs;
  }

  verdict(): CheckerVerdict {
    return {
      boundMs: this.boundMs,
      writesAcked: this.writesAcked,
      readsChecked: this.readsChecked,
      staleReads: this.staleReads,
      worstStalenessMs: this.worst?.stalenessMs ?? 0,
      worst: this.worst,
      violations: this.violations,
      ok: this.violations === 0,
    };
  }
}

/** The first index in [0, length) where the monotone predicate holds (length when none does). */
function firstIndex(length: number, holds: (index: number) => boolean): number {
  let low = 0;
  let high = length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (holds(mid)) high = mid;
    else low = mid + 1;
  }
  return low;
}
