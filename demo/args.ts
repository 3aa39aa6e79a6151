/** The demo's command line. */
import { parseArgs } from 'node:util';
import { errorMessage } from './error-message.ts';

export type Chaos = 'none' | 'worker' | 'redis';

export interface DemoOptions {
  /** Seconds the load runs. */
  readonly duration: number;
  readonly workers: number;
  /** Reads per second, over every worker. */
  readonly rate: number;
  readonly keys: number;
  /** Writes per second, over every worker. */
  readonly writes: number;
  readonly chaos: Chaos;
  /** Staleness past which the checker fails the run, in ms. */
  readonly bound: number;
  readonly json: boolean;
  /** Address the workers' HTTP servers bind (0.0.0.0 in a container). */
  readonly host: string;
  /** First worker's port (worker n listens on port + n - 1); 0 picks free ports. */
  readonly port: number;
  /** Set from the environment: Redis pub/sub instead of cluster IPC. */
  readonly redisUrl: string | undefined;
}

/**
 * ms entries may live in the demo caches while their link is down. The library's default is 5 000;
 * the demo uses 1 000 so a lost link costs at most a second of staleness.
 */
export const DEGRADED_TTL_MS = 1_000;

/**
 * The default staleness bound. The contract is "within one transport round-trip while connected":
 * on loopback that is about a millisecond, but the load generator, the store, the relay (cluster
 * mode) and the workers share a few cores and the event loops run behind under 2 000 reads/s, so
 * 250 ms is what "one round-trip" is allowed to stretch to without calling it a bug.
 * With `--chaos redis` the subscriber connections are killed: messages published in the gap are
 * lost, and the contract then only promises that no entry outlives `degradedTtl` from the moment
 * the loss is noticed (CLIENT KILL closes TCP, so it is noticed at once). The honest bound there is
 * degradedTtl + the same 250 ms. Killing a worker (`--chaos worker`) does not cut the survivors off
 * from each other, so it keeps the connected bound.
 */
export function defaultBound(chaos: Chaos): number {
  const roundTrip = 250;
  return chaos === 'redis' ? DEGRADED_TTL_MS + roundTrip : roundTrip;
}

export const USAGE = `usage: npm start -- [options]   (or: node --import tsx demo/main.ts [options])

  --duration <s>        how long the load runs (default 20)
  --workers <n>         worker processes (default 3)
  --rate <reads/s>      reads per second over all workers (default 2000)
  --keys <n>            configurations in the store (default 50)
  --writes <writes/s>   writes per second (default 10)
  --chaos <mode>        none | worker (kill one worker mid-run, fork a replacement)
                        | redis (CLIENT KILL TYPE pubsub mid-run; needs REDIS_URL)   (default none)
  --bound <ms>          worst staleness allowed (default 250; ${DEGRADED_TTL_MS + 250} with --chaos redis)
  --json                print one JSON summary line on stdout (human output goes to stderr)
  --host <addr>         address the workers serve on (default 127.0.0.1)
  --port <n>            first worker's port; worker n serves on port + n - 1 (default 0: free ports)
  -h, --help

REDIS_URL=redis://host:port   invalidate through Redis pub/sub instead of node:cluster IPC`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): DemoOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        duration: { type: 'string' },
        workers: { type: 'string' },
        rate: { type: 'string' },
        keys: { type: 'string' },
        writes: { type: 'string' },
        chaos: { type: 'string' },
        bound: { type: 'string' },
        json: { type: 'boolean' },
        host: { type: 'string' },
        port: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
  const v = parsed.values;
  if (v.help === true) return 'help';
  const chaos = v.chaos ?? 'none';
  if (chaos !== 'none' && chaos !== 'worker' && chaos !== 'redis') throw new UsageError(`--chaos must be none, worker or redis, got ${JSON.stringify(chaos)}`);
  const redisUrl = env['REDIS_URL'] === undefined || env['REDIS_URL'] === '' ? undefined : env['REDIS_URL'];
  if (chaos === 'redis' && redisUrl === undefined) throw new UsageError('--chaos redis needs REDIS_URL (the cluster IPC mode has no Redis to disturb)');
  const workers = number('workers', v.workers, 3, { min: 1, max: 64, integer: true });
  if (chaos === 'worker' && workers < 2) throw new UsageError('--chaos worker needs at least 2 workers');
  return {
    duration: number('duration', v.duration, 20, { min: 0.5, max: 86_400 }),
    workers,
    rate: number('rate', v.rate, 2_000, { min: 1, max: 100_000 }),
    keys: number('keys', v.keys, 50, { min: 1, max: 100_000, integer: true }),
    writes: number('writes', v.writes, 10, { min: 0, max: 10_000 }),
    chaos,
    bound: number('bound', v.bound, defaultBound(chaos), { min: 0, max: 3_600_000 }),
    json: v.json === true,
    host: v.host ?? '127.0.0.1',
    port: number('port', v.port, 0, { min: 0, max: 65_000, integer: true }),
    redisUrl,
  };
}

function number(name: string, raw: string | undefined, fallback: number, limits: { min: number; max: number; integer?: boolean }): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < limits.min || value > limits.max || (limits.integer === true && !Number.isInteger(value))) {
    throw new UsageError(`--${name} must be ${limits.integer === true ? 'an integer' : 'a number'} from ${limits.min} to ${limits.max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}
