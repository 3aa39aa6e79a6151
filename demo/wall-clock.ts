/**
 * The one clock that the workers and the load generator share: the system's
 * wall clock at sub-millisecond resolution (this process's or thread's time
 * origin plus its monotonic clock). A worker stamps when its invalidate()
 * resolved and when it served a read; the load generator turns those stamps
 * into its own `performance.now()` time to judge reads against writes on
 * different workers without an HTTP round-trip in between.
 */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** A wallNow() stamp from another process, as this thread's performance.now() time. */
export function fromWall(stamp: number): number {
  return stamp - performance.timeOrigin;
}
