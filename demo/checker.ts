/**
 * The coherence checker. Every write bumps the config's version in the store;
 * every read reports the version it served. A write counts from the moment
 * its invalidate() resolved on its worker (it was acknowledged); a read that
 * STARTED on its worker after that moment and served an older version is
 * stale, by
 *
 *     staleness = when the read was served − ack time of the earliest such write
 *
 * (the earliest acknowledged write the read should already have seen). Reads
 * that started before the ack may legitimately serve the old version (a load
 * in flight answers the callers already waiting) and are not judged. A write
 * whose invalidate() rejected was not acknowledged: it is only counted. The
 * times are the workers' stamps (wall-clock.ts) in the load generator's clock,
 * so no HTTP round-trip widens or narrows the verdict.
 *
 * A write's ack time is only known when its answer arrives, possibly after a
 * read that started later: a read is judged once no write that was in flight
 * when it started is still unanswered. Per key, the acknowledged versions
 * kept increase with their ack times (the load generator never has two
 * writes of one key in flight); the lookups rely on it.
 */

/** One answered read, in the load generator's clock. */
export interface ReadSample {
  readonly key: string;
  readonly worker: number;
  readonly version: number;
  /** Before the worker's cache.get() was called. */
  readonly startedAt: number;
  /** When it answered. */
  readonly servedAt: number;
  /** How the cache answered it: hit, miss, or joined (a load already in flight). */
  readonly how?: string;
}

export interface StaleRead {
  readonly key: string;
  readonly worker: number;
  readonly served: number;
  /** The version of the earliest acknowledged write the read should have seen. */
  readonly expected: number;
  readonly stalenessMs: number;
  readonly how: string;
  /** From that write's ack to the read's start, and from its start to its answer. */
  readonly startedAfterAckMs: number;
  readonly answerMs: number;
}

export interface CheckerVerdict {
  readonly boundMs: number;
  readonly writesAcked: number;
  /** Writes whose invalidate() rejected (InvalidationTimeoutError): the contract promises nothing for them. */
  readonly writesUnacked: number;
  /** Reads that started after at least one acknowledged write of their key. */
  readonly readsChecked: number;
  /** Reads that served an older version than an acknowledged write (within the bound or not). */
  readonly staleReads: number;
  readonly worstStalenessMs: number;
  readonly worst: StaleRead | undefined;
  /** Stale reads past the bound: any makes the run fail. */
  readonly violations: number;
  /** The workers and keys stale reads were served on, as `w<worker>:<key>`, sorted. */
  readonly stalePairs: readonly string[];
  readonly ok: boolean;
}

interface Ack {
  readonly version: number;
  readonly at: number;
}

export class CoherenceChecker {
  private readonly acks = new Map<string, Ack[]>();
  /** Writes sent and not yet answered, by key: when each was sent. */
  private readonly inFlight = new Map<string, number>();
  /** Reads waiting for the writes in flight when they started. */
  private pending: ReadSample[] = [];
  private writesAcked = 0;
  private writesUnacked = 0;
  private readsChecked = 0;
  private staleReads = 0;
  private violations = 0;
  private worst: StaleRead | undefined;
  private readonly stalePairs = new Set<string>();

  /** `onStale`: hears every stale read, with its staleness in ms. */
  constructor(
    readonly boundMs: number,
    private readonly onStale: (read: ReadSample, stalenessMs: number) => void = () => undefined,
  ) {}

  /** A write of `key` was sent at `at`. */
  writeSent(key: string, at: number): void {
    this.inFlight.set(key, at);
  }

  /** The write of `key` wrote `version` and its invalidate() resolved at `at`. */
  writeAcked(key: string, version: number, at: number): void {
    this.inFlight.delete(key);
    this.addAck(key, version, at);
    this.judgePending();
  }

  /** The write of `key` was answered without an acknowledgement: not acknowledged (`unacked`) or failed. */
  writeEnded(key: string, unacked: boolean): void {
    if (unacked) this.writesUnacked++;
    this.inFlight.delete(key);
    this.judgePending();
  }

  /** A read completed: judged now, or once the writes in flight when it started are answered. */
  readServed(read: ReadSample): void {
    if (read.startedAt <= this.horizon()) this.judge(read);
    else this.pending.push(read);
  }

  /** No write still in flight was sent before this time. */
  private horizon(): number {
    let earliest = Infinity;
    for (const at of this.inFlight.values()) earliest = Math.min(earliest, at);
    return earliest;
  }

  private judgePending(): void {
    if (this.pending.length === 0) return;
    const horizon = this.horizon();
    const waiting: ReadSample[] = [];
    for (const read of this.pending) {
      if (read.startedAt <= horizon) this.judge(read);
      else waiting.push(read);
    }
    this.pending = waiting;
  }

  private addAck(key: string, version: number, at: number): void {
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

  private judge(read: ReadSample): void {
    const { key, worker, startedAt, servedAt, version } = read;
    const list = this.acks.get(key);
    if (list === undefined) return;
    // Acks strictly before the read started: list[0 .. seen).
    const seen = firstIndex(list.length, (i) => (list[i] as Ack).at >= startedAt);
    if (seen === 0) return;
    this.readsChecked++;
    // The earliest of them with a newer version than the one served.
    const newer = firstIndex(seen, (i) => (list[i] as Ack).version > version);
    if (newer === seen) return;
    const missed = list[newer] as Ack;
    const stalenessMs = servedAt - missed.at;
    this.staleReads++;
    this.stalePairs.add(`w${worker}:${key}`);
    if (stalenessMs > this.boundMs) this.violations++;
    if (this.worst === undefined || stalenessMs > this.worst.stalenessMs) {
      this.worst = { key, worker, served: version, expected: missed.version, stalenessMs, how: read.how ?? '?', startedAfterAckMs: startedAt - missed.at, answerMs: servedAt - startedAt };
    }
    this.onStale(read, stalenessMs);
  }

  verdict(): CheckerVerdict {
    return {
      boundMs: this.boundMs,
      writesAcked: this.writesAcked,
      writesUnacked: this.writesUnacked,
      readsChecked: this.readsChecked,
      staleReads: this.staleReads,
      worstStalenessMs: this.worst?.stalenessMs ?? 0,
      worst: this.worst,
      violations: this.violations,
      stalePairs: [...this.stalePairs].sort(),
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
