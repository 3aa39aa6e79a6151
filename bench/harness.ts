/**
 * Timing for the micro-benchmarks: calibrate the batch size, warm up, then
 * take several samples of `n` operations each and keep the median ns/op and a
 * robust relative spread (median absolute deviation / median).
 *
 * Each benchmark brings its own loop (`run(n)` performs n operations and
 * returns something derived from every result), so every library's call site
 * stays monomorphic and V8 can neither inline one library's code into a loop
 * shared with another nor drop the loop as dead code. Benchmarks of one
 * scenario are sampled round-robin, so drift on the machine (thermal, noisy
 * neighbour, GC of an earlier scenario) spreads over all of them instead of
 * biasing whichever ran last.
 */

/** Performs `n` operations; the result folds every operation's result (sum/xor) so the work cannot be elided. */
export type SyncRun = (n: number) => number;
export type AsyncRun = (n: number) => Promise<number>;

export interface Bench {
  readonly name: string;
  readonly run: SyncRun | AsyncRun;
}

export interface TimingOptions {
  /** Samples kept per benchmark. */
  readonly samples: number;
  /** Target duration of one sample, in ms (the batch size is calibrated to it). */
  readonly sampleMs: number;
  /** Warm-up duration per benchmark before calibration, in ms. */
  readonly warmupMs: number;
}

export interface Timing {
  readonly name: string;
  /** Median ns per operation over the samples. */
  readonly nsPerOp: number;
  /** Median absolute deviation / median (0.02 = ±2 %). */
  readonly spread: number;
  readonly minNsPerOp: number;
  readonly maxNsPerOp: number;
  /** Operations per sample. */
  readonly opsPerSample: number;
  readonly samples: number;
  /** Folded results (printed nowhere; kept so the work is observably used). */
  readonly checksum: number;
}

export const FULL: TimingOptions = { samples: 15, sampleMs: 25, warmupMs: 150 };
export const QUICK: TimingOptions = { samples: 5, sampleMs: 10, warmupMs: 120 };

/** Lets pending timers (the caches' clock refreshers) and microtasks run, as a live process would between turns. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function collectGarbage(): void {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error('run with --expose-gc (npm run bench does)');
  gc();
}

async function timeOnce(run: SyncRun | AsyncRun, n: number): Promise<{ ns: number; checksum: number }> {
  const start = process.hrtime.bigint();
  const out = run(n);
  const checksum = typeof out === 'number' ? out : await out;
  const ns = Number(process.hrtime.bigint() - start);
  return { ns, checksum };
}

/** Doubles the batch until one batch takes a measurable time, then sizes it to `sampleMs`. */
async function calibrate(run: SyncRun | AsyncRun, sampleMs: number): Promise<number> {
  let n = 16;
  for (;;) {
    const { ns } = await timeOnce(run, n);
    if (ns >= 2_000_000 || n >= 1 << 26) {
      const perOp = ns / n;
      return Math.max(16, Math.round((sampleMs * 1e6) / perOp));
    }
    n *= 2;
  }
}

async function warmUp(run: SyncRun | AsyncRun, warmupMs: number): Promise<void> {
  const until = performance.now() + warmupMs;
  let n = 64;
  while (performance.now() < until) {
    await timeOnce(run, n);
    if (n < 1 << 16) n *= 2;
    await yieldToEventLoop();
  }
}

/** Times every benchmark of one scenario, sampling them round-robin. */
export async function measure(benches: readonly Bench[], options: TimingOptions): Promise<Timing[]> {
  const sizes: number[] = [];
  for (const bench of benches) {
    await warmUp(bench.run, options.warmupMs);
    sizes.push(await calibrate(bench.run, options.sampleMs));
  }
  const perOp: number[][] = benches.map(() => []);
  const checksums = benches.map(() => 0);
  for (let sample = 0; sample < options.samples; sample++) {
    for (let b = 0; b < benches.length; b++) {
      const bench = benches[b] as Bench;
      const n = sizes[b] as number;
      collectGarbage();
      await yieldToEventLoop();
      const { ns, checksum } = await timeOnce(bench.run, n);
      (perOp[b] as number[]).push(ns / n);
      checksums[b] = ((checksums[b] as number) + checksum) % 1e9;
    }
  }
  return benches.map((bench, b) => {
    const values = perOp[b] as number[];
    return {
      name: bench.name,
      nsPerOp: median(values),
      spread: relativeSpread(values),
      minNsPerOp: Math.min(...values),
      maxNsPerOp: Math.max(...values),
      opsPerSample: sizes[b] as number,
      samples: values.length,
      checksum: checksums[b] as number,
    };
  });
}

/** Median absolute deviation / median: the robust relative spread every scenario reports (0.02 = ±2 %). */
export function relativeSpread(values: readonly number[]): number {
  const middle = median(values);
  return median(values.map((value) => Math.abs(value - middle))) / middle;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** A xorshift PRNG with a fixed seed, so every run walks the same key order. */
export function seededRandom(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** `count` random indices below `keySpace`, `count` a power of two so a walk can wrap with a mask. */
export function randomIndices(count: number, keySpace: number, seed = 0x9e3779b9): Uint32Array {
  if ((count & (count - 1)) !== 0) throw new Error('count must be a power of two');
  const random = seededRandom(seed);
  const indices = new Uint32Array(count);
  for (let i = 0; i < count; i++) indices[i] = Math.floor(random() * keySpace);
  return indices;
}

/** What `run.ts` hands every scenario. */
export interface ScenarioContext {
  readonly quick: boolean;
  readonly timing: TimingOptions;
  /** Progress lines (to stderr, so stdout is the report). */
  readonly log: (line: string) => void;
}
