/**
 * Names a freeze instead of its symptoms. The load generator tells it when a
 * request to a worker starts and ends; a worker with requests pending that
 * answers nothing for FREEZE_MS is frozen, until it answers again. Its own
 * ticks tell it when the load generator itself was held up (an overloaded
 * machine), and the primary's regular "alive" messages when the primary (the
 * relay, the config store) was: either would otherwise look like shed reads,
 * errors or a slow worker.
 */

/** No answer for this long, with requests pending, is a freeze. */
export const FREEZE_MS = 2_000;
/** How often the primary says it is alive. */
export const ALIVE_MS = 100;

export interface Freeze {
  /** `worker N` that answered nothing, the 'load generator' whose own timer was late, or the 'primary' that sent no sign of life. */
  readonly who: string;
  /** Load-generator clock (performance.now()) when the freeze began. */
  readonly since: number;
  readonly forMs: number;
  /** Requests pending when it ended (for a worker). */
  readonly pending: number;
}

interface Watched {
  pending: number;
  lastProgress: number;
}

export class FreezeWatch {
  readonly freezes: Freeze[] = [];
  private readonly workers = new Map<number, Watched>();
  /** The most the load generator's own timer ran late, in ms. */
  maxTickLateMs = 0;
  private lastTick: number | undefined;
  private lastAlive: number | undefined;

  started(worker: number, now: number): void {
    const watched = this.watched(worker, now);
    if (watched.pending === 0) watched.lastProgress = now;
    watched.pending++;
  }

  /** A request ended, answered or failed: either way the worker (or its death) made progress. */
  ended(worker: number, now: number): void {
    const watched = this.watched(worker, now);
    this.close(`worker ${worker}`, watched, now);
    watched.pending--;
    watched.lastProgress = now;
  }

  /** The load generator's timer fired; `intervalMs` is when it was due. */
  tick(now: number, intervalMs: number): void {
    const late = this.lastTick === undefined ? 0 : now - this.lastTick - intervalMs;
    this.maxTickLateMs = Math.max(this.maxTickLateMs, late);
    if (this.lastTick !== undefined && late >= FREEZE_MS) this.freezes.push({ who: 'load generator', since: this.lastTick + intervalMs, forMs: late, pending: 0 });
    this.lastTick = now;
  }

  /** The primary's sign of life, sent every `intervalMs`. */
  primaryAlive(now: number, intervalMs: number): void {
    if (this.lastAlive !== undefined && now - this.lastAlive - intervalMs >= FREEZE_MS) {
      this.freezes.push({ who: 'primary', since: this.lastAlive + intervalMs, forMs: now - this.lastAlive - intervalMs, pending: 0 });
    }
    this.lastAlive = now;
  }

  /** Freezes so far, those still going included (as of `now`). */
  all(now: number): Freeze[] {
    const ongoing: Freeze[] = [];
    for (const [worker, watched] of this.workers) {
      if (watched.pending > 0 && now - watched.lastProgress >= FREEZE_MS) ongoing.push({ who: `worker ${worker}`, since: watched.lastProgress, forMs: now - watched.lastProgress, pending: watched.pending });
    }
    return [...this.freezes, ...ongoing];
  }

  private close(who: string, watched: Watched, now: number): void {
    if (watched.pending > 0 && now - watched.lastProgress >= FREEZE_MS) this.freezes.push({ who, since: watched.lastProgress, forMs: now - watched.lastProgress, pending: watched.pending });
  }

  private watched(worker: number, now: number): Watched {
    let watched = this.workers.get(worker);
    if (watched === undefined) {
      watched = { pending: 0, lastProgress: now };
      this.workers.set(worker, watched);
    }
    return watched;
  }
}
