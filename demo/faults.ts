/**
 * One injection of each fault `--chaos` knows, from start to undone: the
 * redis-server SIGKILLed and restarted, SIGSTOPped and resumed, CLIENT PAUSE
 * WRITE, CLIENT KILL of the normal or the pub/sub connections, a worker
 * SIGKILLed and replaced, the node:cluster primary busy-waiting. Each says
 * what it did through `note` as it does it; chaos.ts decides when and how often.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Chaos as ChaosMode, DemoOptions } from './args.ts';
import type { LoadThread } from './load-thread.ts';
import { redisCommand, type DemoRedis } from './redis-server.ts';
import type { ConfigStore } from './store.ts';
import type { Supervisor } from './supervisor.ts';

export interface FaultContext {
  readonly options: Pick<DemoOptions, 'port' | 'degradedTtl'>;
  readonly supervisor: Supervisor;
  readonly loadgen: LoadThread;
  readonly store: ConfigStore;
  /** The server the workers use: the demo's own (signals allowed) or REDIS_URL's. */
  readonly redis: DemoRedis | { readonly url: string } | undefined;
  /** Records (and shows) what was just done. */
  readonly note: (what: string) => void;
  /** Set once the run is ending: a replacement worker is then not added to the load. */
  readonly stopping: () => boolean;
}

/** How long the primary busy-waits. */
export const STALL_MS = 3_000;
/** How long the longer CLIENT PAUSE lasts past the caches' invalidateTimeout (2 s), so some invalidate() calls reject. */
const PAST_INVALIDATE_TIMEOUT_MS = 2_500;

/** How long a fault keeps the caches apart: long enough that every lease lapses. */
export function holdMs(degradedTtl: number): number {
  return Math.max(1_000, 3 * degradedTtl);
}

/** Injects fault number `n` (from 1) of `mode` and resolves once it is undone. */
export async function injectFault(mode: Exclude<ChaosMode, 'none'>, n: number, ctx: FaultContext): Promise<void> {
  const hold = holdMs(ctx.options.degradedTtl);
  switch (mode) {
    case 'redis-sigkill': {
      const redis = ctx.redis as DemoRedis;
      await redis.kill();
      ctx.note(`SIGKILLed the redis-server on :${redis.port}`);
      await delay(hold);
      await redis.restart();
      ctx.note(`restarted the redis-server on :${redis.port} (empty) after ${hold} ms`);
      return;
    }
    case 'redis-sigstop': {
      const redis = ctx.redis as DemoRedis;
      await redis.pause();
      ctx.note(`SIGSTOPped the redis-server on :${redis.port}`);
      await delay(hold);
      redis.resume();
      ctx.note(`SIGCONT after ${hold} ms`);
      return;
    }
    case 'client-pause': {
      // Every other pause outlasts invalidateTimeout: those writes are answered as not acknowledged.
      const ms = n % 2 === 1 ? hold : PAST_INVALIDATE_TIMEOUT_MS;
      await command(ctx, 'CLIENT', 'PAUSE', ms, 'WRITE');
      ctx.note(`CLIENT PAUSE ${ms} WRITE`);
      await delay(ms);
      return;
    }
    case 'client-kill-normal':
    case 'client-kill-pubsub':
    case 'redis': {
      const type = mode === 'client-kill-normal' ? 'normal' : 'pubsub';
      const killed = await command(ctx, 'CLIENT', 'KILL', 'TYPE', type);
      ctx.note(`CLIENT KILL TYPE ${type} closed ${String(killed)} ${type === 'pubsub' ? 'subscriber' : 'publisher'} connection(s)`);
      return;
    }
    case 'worker':
      return killOneWorker(ctx);
    case 'primary-stall':
      return stallPrimary(ctx);
  }
}

function command(ctx: FaultContext, ...args: (string | number)[]): Promise<unknown> {
  if (ctx.redis === undefined) throw new Error('no Redis server to send the fault to');
  return redisCommand(ctx.redis.url, ...args);
}

async function killOneWorker(ctx: FaultContext): Promise<void> {
  const { supervisor, loadgen, options } = ctx;
  const victim = supervisor.all().find((slot) => slot.state === 'serving');
  if (victim === undefined) throw new Error('no serving worker to kill');
  // Stop routing to it first; requests already in flight to it fail, counted as lost with it.
  await loadgen.removeTarget(victim.id, true);
  victim.state = 'killed';
  victim.worker.process.kill('SIGKILL');
  ctx.note(`killed worker ${victim.id} (pid ${victim.pid}) with SIGKILL; forking a replacement`);
  await victim.exited;
  const replacement = supervisor.fork(true, options.port === 0 ? 0 : (victim.port ?? 0));
  if (!(await replacement.ready)) throw new Error(`replacement worker ${replacement.id} did not start`);
  if (ctx.stopping()) return;
  loadgen.addTarget({ worker: replacement.id, port: replacement.port as number });
  ctx.note(`replacement worker ${replacement.id} (pid ${replacement.pid}) serving on :${replacement.port ?? '?'}`);
}

/**
 * Busy-waits the primary (the relay, the store) for STALL_MS, starting right
 * after it answered a store write: that write's worker is about to hand its
 * invalidation to the stalled relay, the worst moment a stall can hit. Without
 * a write within a second, it stalls anyway.
 */
function stallPrimary(ctx: FaultContext): Promise<void> {
  const { store } = ctx;
  const done = Promise.withResolvers<void>();
  const stall = (when: string): void => {
    store.afterWriteAnswered = undefined;
    clearTimeout(fallback);
    ctx.note(`stalling the primary for ${STALL_MS} ms (busy-wait) ${when}`);
    const end = performance.now() + STALL_MS;
    while (performance.now() < end) {
      // Nothing else runs in the primary meanwhile: no relay, no store, no timers.
    }
    done.resolve();
  };
  store.afterWriteAnswered = () => stall('right after it answered a store write');
  const fallback = setTimeout(() => stall('(no store write came within 1 s)'), 1_000);
  return done.promise;
}
