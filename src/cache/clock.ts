/**
 * The cache's clock. Reading `Date.now()` costs as much as a cache hit, so the
 * hit path reads a value cached for `resolutionMs` (as lru-cache does); every
 * other path reads `exact()`. Both go through the global `Date` and
 * `setTimeout` at call time, so sinon fake timers control them. Under fake
 * timers (sinon's Date says `isFake`) nothing is cached, so `tick()` and
 * `setSystemTime()` jumps alike are seen by the very next read.
 */

// Captured before any test can install fake timers (see `readAndCache`).
const realSetTimeout = globalThis.setTimeout;

export class Clock {
  private cached = 0;
  private valid = false;
  /** The `Date.now` that produced `cached`: installing or removing fake timers replaces it. */
  private source: () => number = Date.now;
  /** The setTimeout that armed the pending expiry: one installed by fake timers after it would never fire it. */
  private armedWith: typeof setTimeout | undefined;
  private readonly expire = (): void => {
    this.valid = false;
    this.armedWith = undefined;
  };

  constructor(readonly resolutionMs: number) {}

  /** Time for the hit path: at most `resolutionMs` old (0 means always exact). */
  now(): number {
    if (this.valid && Date.now === this.source) return this.cached;
    const now = Date.now();
    if (this.resolutionMs > 0) this.remember(now);
    return now;
  }

  /**
   * Time read now, for the slow paths (misses, loads, invalidations, messages).
   * It leaves the cached reading alone: arming the refresh timer costs more than
   * the read, and those paths come one at a time, not in bursts.
   */
  exact(): number {
    return Date.now();
  }

  private remember(now: number): void {
    // Under fake timers every read is exact: a `setSystemTime` jump fires no timer, and must be seen at once.
    if ((Date as { isFake?: boolean }).isFake === true) return;
    this.cached = now;
    this.source = Date.now;
    this.valid = true;
    const setTimer = globalThis.setTimeout;
    if (this.armedWith === setTimer) return;
    this.armedWith = setTimer;
    setTimer(this.expire, this.resolutionMs).unref();
    // Under fake timers the timer above is fake, and uninstalling them drops it
    // unfired; a real one guarantees the cached reading still expires.
    if (globalThis.setTimeout !== realSetTimeout) realSetTimeout(this.expire, this.resolutionMs).unref();
  }
}

const shared = new Map<number, Clock>();

/** One clock per resolution, shared by every cache in the process, so N caches arm one timer, not N. */
export function clockFor(resolutionMs: number): Clock {
  let clock = shared.get(resolutionMs);
  if (clock === undefined) {
    clock = new Clock(resolutionMs);
    shared.set(resolutionMs, clock);
  }
  return clock;
}
