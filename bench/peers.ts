/**
 * Support for the cross-process scenarios (propagation, throughput): one wall
 * clock both sides can compare, and the statistics. The processes themselves
 * come from the tests' helpers: a private redis-server on a free loopback port
 * (test/support/redis-server.ts, never the shared :6379) and child processes
 * with typed IPC and deadlines (test/support/child.ts: spawnChild in the bench,
 * serveParent in the child, which exits when its IPC channel to the bench
 * closes). Nothing they start outlives the bench: every child and server is
 * stopped in the scenario's `finally` and killed on process exit (an uncaught
 * error included) and on SIGINT/SIGTERM/SIGHUP (test/support/reaper.ts).
 */
import type { SpawnChildOptions } from '../test/support/child.ts';

/** How the scenarios start their child processes: `--expose-gc` for collectGarbage(), output on the bench's. */
export const PEER_OPTIONS: SpawnChildOptions = { execArgv: ['--expose-gc'], inheritOutput: true, readyTimeoutMs: 30_000 };

/**
 * The wall clock every process reads the same way, in ms (fractional):
 * `timeOrigin` (the wall clock at process start) + the monotonic time since.
 */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * How far this process's `wallNow()` is from the machine's monotonic clock
 * (`process.hrtime`, CLOCK_MONOTONIC, one clock for every process), in ms. Two
 * processes' offsets differ by the error of comparing their `wallNow()`
 * readings (each `timeOrigin` is sampled from the wall clock at its own start).
 */
export function clockOffset(): number {
  let best = Number.POSITIVE_INFINITY;
  let offset = 0;
  // Keep the pair read closest together (a preemption between the two reads would bias it).
  for (let i = 0; i < 20; i++) {
    const before = process.hrtime.bigint();
    const wall = wallNow();
    const after = process.hrtime.bigint();
    const width = Number(after - before);
    if (width < best) {
      best = width;
      offset = wall - Number((before + after) / 2n) / 1e6;
    }
  }
  return offset;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------
// Statistics

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** A predicate for `ChildWorker.waitFor`: the child's message of one `type`, narrowed. */
export function messageOfType<M extends { type: string }, T extends M['type']>(type: T): (message: M) => message is Extract<M, { type: T }> {
  return (message: M): message is Extract<M, { type: T }> => message.type === type;
}
