/**
 * Fails operations that take longer than a fixed time, with one timer for all
 * of them rather than one per operation. A publish is one such operation: a
 * timer armed and cleared on every publish cost a timer-list insertion and
 * removal on the publisher's busiest path, where a single pending timer is
 * re-armed at most once per `ms` while publishes keep coming.
 *
 * Time is read through `Date.now` and waited on through `setTimeout` at call
 * time, so sinon fake timers drive it; the timer never keeps a process alive.
 */
interface Waiting {
  readonly expiresAt: number;
  readonly reject: (error: Error) => void;
}

export class Deadline {
  /** Operations in flight, in the order they started, which is also the order they expire in. */
  private readonly waiting = new Set<Waiting>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly ms: number,
    private readonly expiredError: () => Error,
  ) {}

  /** Resolves once `work` does (with its value), rejects as it does, or rejects with `expiredError()` once `work` took longer than `ms`. */
  bound(work: Promise<unknown>): Promise<void> {
    // Its callers ignore the value; no extra promise to drop it (publishes pass through here).
    return this.boundValue<unknown>(work) as Promise<void>;
  }

  /** As `bound`, typed with what `work` resolves with. */
  boundValue<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Waiting = { expiresAt: Date.now() + this.ms, reject };
      this.waiting.add(entry);
      this.timer ??= this.arm(this.ms);
      work.then(
        (value) => {
          this.waiting.delete(entry);
          resolve(value);
        },
        (error: unknown) => {
          this.waiting.delete(entry);
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the operation's own rejection, passed on unchanged
          reject(error);
        },
      );
    });
  }

  /** Clears the timer if nothing waits: after its owner closes, no timer of its is left pending. */
  release(): void {
    if (this.waiting.size > 0 || this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(delay: number): ReturnType<typeof setTimeout> {
    const timer = setTimeout(this.expire, delay);
    timer.unref();
    return timer;
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    const now = Date.now();
    for (const entry of this.waiting) {
      if (entry.expiresAt > now) {
        // The oldest still in time: wait for it alone; later ones expire after it.
        this.timer = this.arm(entry.expiresAt - now);
        return;
      }
      this.waiting.delete(entry);
      entry.reject(this.expiredError());
    }
  };
}
