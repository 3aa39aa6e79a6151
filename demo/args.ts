/** The demo's command line. */
import { parseArgs } from 'node:util';
import { errorMessage } from './error-message.ts';

/** The faults `--chaos` injects (faults.ts does each); `redis` is client-kill-pubsub on the server REDIS_URL names. */
export const FAULTS = ['redis-sigkill', 'redis-sigstop', 'client-pause', 'client-kill-normal', 'client-kill-pubsub', 'worker', 'primary-stall'] as const;
export type Fault = (typeof FAULTS)[number];
export type Chaos = 'none' | 'redis' | Fault;

/** Faults on a Redis server: without REDIS_URL the demo starts its own (the signals need one it owns). */
export const REDIS_FAULTS: ReadonlySet<Chaos> = new Set<Chaos>(['redis-sigkill', 'redis-sigstop', 'client-pause', 'client-kill-normal', 'client-kill-pubsub']);
/** Faults that cut the caches off from each other: the contract then bounds staleness by degradedTtl. */
const LINK_FAULTS: ReadonlySet<Chaos> = new Set<Chaos>([...REDIS_FAULTS, 'redis', 'primary-stall']);

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
  /** How many times the fault is injected, one after the other. */
  readonly faults: number;
  /** The caches' degradedTtl, in ms: the contract's staleness bound. */
  readonly degradedTtl: number;
  /** Read errors, or reads shed, above this share of the reads due (in %) fail the run. */
  readonly errorBudget: number;
  /** Staleness past which the checker fails the run, in ms. */
  readonly bound: number;
  readonly json: boolean;
  /** Address the workers' HTTP servers bind (0.0.0.0 in a container). */
  readonly host: string;
  /** First worker's port (worker n listens on port + n - 1); 0 picks free ports. */
  readonly port: number;
  /** Set from the environment: Redis pub/sub instead of cluster IPC. */
  readonly redisUrl: string | undefined;
  /** Start a redis-server of the demo's own (a Redis fault without REDIS_URL). */
  readonly ownRedis: boolean;
  /** The workers' verify sampleRate (0: verification off). */
  readonly verify: number;
  /** Every n-th write of each worker skips its invalidation (0: none), a planted fault for verification to find. */
  readonly lose: number;
}

/**
 * ms entries may live in the demo caches while their link is down, by default. The library's default
 * is 5 000; the demo uses 1 000 so a lost link costs at most a second of staleness.
 */
export const DEGRADED_TTL_MS = 1_000;

/**
 * The default staleness bound, measured from the moment a write's invalidate() resolved on its
 * worker. The contract is "within one transport round-trip while connected": on loopback that is
 * about a millisecond, but the load generator, the store, the relay (cluster mode) and the workers
 * share a few cores and the event loops run behind under 2 000 reads/s, so 250 ms is what "one
 * round-trip" is allowed to stretch to without calling it a bug. Killing a worker does not cut the
 * survivors off from each other, so it keeps that bound. The faults that do cut them off (Redis
 * killed, stopped, paused, its connections killed; the relay stalled) leave only the contract's
 * promise: no read staler than degradedTtl past the ack. `--chaos redis` keeps its old
 * degradedTtl + 250 ms.
 */
export function defaultBound(chaos: Chaos, degradedTtl: number): number {
  const roundTrip = 250;
  if (chaos === 'redis') return degradedTtl + roundTrip;
  return LINK_FAULTS.has(chaos) ? degradedTtl : roundTrip;
}

/** Default --error-budget, in %. */
export const ERROR_BUDGET_PCT = 0.5;

export const USAGE = `usage: npm start -- [options]   (or: node --import tsx demo/main.ts [options])

  --duration <s>        how long the load runs (default 20)
  --workers <n>         worker processes (default 3)
  --rate <reads/s>      reads per second over all workers (default 2000)
  --keys <n>            configurations in the store (default 50)
  --writes <writes/s>   writes per second (default 10)
  --chaos <fault>       none (default) | worker (SIGKILL one worker, fork a replacement)
                        | redis-sigkill (SIGKILL the redis-server, restart it) | redis-sigstop (SIGSTOP it, SIGCONT)
                        | client-pause (CLIENT PAUSE <ms> WRITE) | client-kill-normal | client-kill-pubsub (CLIENT KILL TYPE ...)
                        | primary-stall (busy-wait the node:cluster primary, cluster IPC only)
                        | redis (CLIENT KILL TYPE pubsub on the server of REDIS_URL, which it needs)
                        The Redis faults start a redis-server of their own unless REDIS_URL is set
                        (redis-sigkill and redis-sigstop always do: they signal it).
  --faults <n>          how many times the fault is injected, one after the other (default 1); the run
                        lasts until the last one is undone + 1 s if that is longer than --duration
  --degraded-ttl <ms>   the caches' degradedTtl: no read is staler than this past a write's ack (default ${DEGRADED_TTL_MS})
  --bound <ms>          worst staleness allowed (default 250; the degradedTtl under a fault that cuts the
                        caches off from each other; degradedTtl + 250 with --chaos redis)
  --error-budget <%>    read errors, or reads shed by the load generator, above this share of the reads
                        due fail the run (default ${ERROR_BUDGET_PCT})
  --verify <rate>       verification on in every worker: re-load this share of the hits (0 < rate <= 1) and
                        count coherence violations, printed beside the checker's stale reads (they must agree)
  --lose <n>            plant a fault: every n-th write of each worker skips its invalidation and answers as
                        acknowledged (a buggy writer: no log repairs what was never sent)
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
        faults: { type: 'string' },
        'degraded-ttl': { type: 'string' },
        'error-budget': { type: 'string' },
        bound: { type: 'string' },
        json: { type: 'boolean' },
        host: { type: 'string' },
        port: { type: 'string' },
        verify: { type: 'string' },
        lose: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
  const v = parsed.values;
  if (v.help === true) return 'help';
  const chaos = v.chaos ?? 'none';
  if (chaos !== 'none' && chaos !== 'redis' && !(FAULTS as readonly string[]).includes(chaos)) throw new UsageError(`--chaos must be none, redis or one of ${FAULTS.join(', ')}, got ${JSON.stringify(chaos)}`);
  const redisUrl = env['REDIS_URL'] === undefined || env['REDIS_URL'] === '' ? undefined : env['REDIS_URL'];
  if (chaos === 'redis' && redisUrl === undefined) throw new UsageError('--chaos redis needs REDIS_URL (the cluster IPC mode has no Redis to disturb)');
  if ((chaos === 'redis-sigkill' || chaos === 'redis-sigstop') && redisUrl !== undefined) throw new UsageError(`--chaos ${chaos} signals a redis-server the demo starts itself: unset REDIS_URL`);
  if (chaos === 'primary-stall' && redisUrl !== undefined) throw new UsageError('--chaos primary-stall stalls the node:cluster relay: unset REDIS_URL');
  const workers = number('workers', v.workers, 3, { min: 1, max: 64, integer: true });
  if (chaos !== 'none' && chaos !== 'redis' && workers < 2) throw new UsageError(`--chaos ${chaos} needs at least 2 workers`);
  const ownRedis = REDIS_FAULTS.has(chaos as Chaos) && redisUrl === undefined;
  if (v.lose !== undefined && v.verify === undefined) throw new UsageError('--lose plants a fault for verification to find: add --verify <rate>');
  const degradedTtl = number('degraded-ttl', v['degraded-ttl'], DEGRADED_TTL_MS, { min: 2, max: 600_000, integer: true });
  return {
    duration: number('duration', v.duration, 20, { min: 0.5, max: 86_400 }),
    workers,
    rate: number('rate', v.rate, 2_000, { min: 1, max: 100_000 }),
    keys: number('keys', v.keys, 50, { min: 1, max: 100_000, integer: true }),
    writes: number('writes', v.writes, 10, { min: 0, max: 10_000 }),
    chaos: chaos as Chaos,
    faults: number('faults', v.faults, 1, { min: 1, max: 1_000, integer: true }),
    degradedTtl,
    errorBudget: number('error-budget', v['error-budget'], ERROR_BUDGET_PCT, { min: 0, max: 100 }),
    bound: number('bound', v.bound, defaultBound(chaos as Chaos, degradedTtl), { min: 0, max: 3_600_000 }),
    json: v.json === true,
    host: v.host ?? '127.0.0.1',
    port: number('port', v.port, 0, { min: 0, max: 65_000, integer: true }),
    redisUrl,
    ownRedis,
    verify: number('verify', v.verify, 0, { min: 0, max: 1 }),
    lose: number('lose', v.lose, 0, { min: 0, max: 1_000_000, integer: true }),
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
