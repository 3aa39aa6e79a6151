/**
 * Support for the cross-process scenarios (propagation, throughput): a private
 * redis-server on a free loopback port (never the shared :6379), child
 * processes to receive in, typed IPC with deadlines, and one wall clock both
 * sides can compare.
 *
 * Nothing started here may outlive the bench: every child and server is
 * stopped in the scenario's `finally`, killed on process exit (an uncaught
 * error included) and on SIGINT/SIGTERM/SIGHUP, and a child exits on its own
 * when its IPC channel to the bench closes.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { trackChild, untrackChild } from '../test/support/reaper.ts';

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
// Process bookkeeping


// ---------------------------------------------------------------------------
// Redis

export interface BenchRedis {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** `INFO <section>` fields. */
  info(section: string): Promise<Map<string, string>>;
  stop(): Promise<void>;
}

/**
 * A private redis-server, through the integration tests' helper (plain Node +
 * ioredis, no mocha), imported on demand so its exit and signal hooks are only
 * installed when a Redis scenario runs.
 */
export async function startBenchRedis(): Promise<BenchRedis> {
  const { startRedis } = await import('../test/support/redis-server.ts');
  const server = await startRedis();
  return {
    host: server.host,
    port: server.port,
    url: server.url,
    info: async (section) => {
      const fields = new Map<string, string>();
      for (const line of String(await server.command('INFO', section)).split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
      }
      return fields;
    },
    stop: () => server.stop(),
  };
}

// ---------------------------------------------------------------------------
// Child processes

export interface Peer<In, Out> {
  readonly pid: number | undefined;
  send(message: In): void;
  /** The first message matching `predicate` not claimed before (earlier arrivals included); rejects on timeout or exit. */
  next<T extends Out>(what: string, predicate: (message: Out) => message is T, timeoutMs: number): Promise<T>;
  /** Waits up to `graceMs` for the child to exit, then kills it. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** Forks `bench/<file>` under tsx with an IPC channel; its stdout/stderr go to ours. */
export function forkPeer<In, Out>(file: string, args: readonly string[]): Peer<In, Out> {
  const path = fileURLToPath(new URL(file, import.meta.url));
  const label = [file.replace(/^\.\//, ''), ...args.slice(0, 1)].join(' ');
  const child = fork(path, [...args], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  trackChild(child);
  const inbox: Out[] = [];
  const waiters = new Set<() => void>();
  let exitInfo: string | undefined;
  let hasExited = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = `exited with ${signal ?? `code ${String(code)}`}`;
      hasExited = true;
      untrackChild(child);
      for (const wake of waiters) wake();
      resolve();
    });
  });
  child.on('error', (error) => {
    exitInfo ??= `failed: ${error.message}`;
    for (const wake of waiters) wake();
  });
  child.on('message', (message) => {
    inbox.push(message as Out);
    for (const wake of waiters) wake();
  });

  return {
    pid: child.pid,
    send: (message) => {
      if (exitInfo !== undefined || !child.connected) throw new Error(`${label} ${exitInfo ?? 'is disconnected'}`);
      child.send(message as object);
    },
    next: <T extends Out>(what: string, predicate: (message: Out) => message is T, timeoutMs: number) =>
      new Promise<T>((resolve, reject) => {
        const check = (): void => {
          const index = inbox.findIndex(predicate);
          if (index >= 0) {
            finish();
            resolve(inbox.splice(index, 1)[0] as T);
          } else if (exitInfo !== undefined) {
            finish();
            reject(new Error(`${label} ${exitInfo} while the bench waited for ${what}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${label}: no ${what} within ${timeoutMs} ms`));
        }, timeoutMs);
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    stop: async (graceMs = 2_000) => {
      if (hasExited) return;
      if (child.connected) child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Child side: exit when the bench goes away (its IPC channel closes), so no child outlives it. */
export function exitWithParent(): void {
  if (process.send === undefined) throw new Error('run me through the bench (forked with an IPC channel)');
  process.on('disconnect', () => process.exit(0));
}

/**
 * Child side: sends a message and resolves once it is handed to the OS. When
 * the bench is gone (it failed, or stopped this child) there is nobody to tell:
 * the child just exits.
 */
export function sendToParent(message: object): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) process.exit(0);
    process.send(message, undefined, {}, (error) => (error === null ? resolve() : process.exit(0)));
  });
}

// ---------------------------------------------------------------------------
// Statistics

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** A predicate for `Peer.next`: the child's message of one `type`, narrowed. */
export function messageOfType<M extends { type: string }, T extends M['type']>(type: T): (message: M) => message is Extract<M, { type: T }> {
  return (message: M): message is Extract<M, { type: T }> => message.type === type;
}
