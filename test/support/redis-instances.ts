// Test support: a private redis-server per test and caches on it, each with its own
// redisTransport (its own connections), as separate processes would have.
//
// Inside a describe():
//   const redis = redisInstances({ transport: { heartbeatInterval: 100 }, cache: { retryInterval: 100 } });
//   const { instance } = redis;
//   it('...', async () => { const a = instance(); await redis.server.pause(); ... });
//
// It registers a beforeEach that starts the server and an afterEach that runs what was
// registered with cleanup() in reverse order (so each instance's transport, then its
// cache), then stops the server.
import { createCache, redisTransport, type Cache, type CacheOptions, type RedisTransportOptions } from '../../src/index.ts';
import { startRedis, type RedisServer } from './redis-server.ts';

export interface RedisInstancesOptions {
  /** Transport options of every instance, before the test's own (the server's url unless a client is given). */
  readonly transport?: Partial<RedisTransportOptions>;
  /** Cache options of every instance, before the test's own (the name is 'config'). */
  readonly cache?: Partial<CacheOptions>;
  /**
   * At afterEach, ignore a rejected cleanup step (for tests whose faults leave a close to
   * fail, e.g. undelivered invalidations). Default false: the first rejection fails the hook,
   * after the remaining steps ran and the server stopped.
   */
  readonly ignoreCloseErrors?: boolean;
}

export interface RedisInstances {
  /** The current test's redis-server (started by beforeEach). */
  readonly server: RedisServer;
  /** A cache named 'config' with its own transport to `server`, both closed after the test. */
  instance(this: void, options?: Partial<CacheOptions>, transportOptions?: Partial<RedisTransportOptions>): Cache<string>;
  /** Runs each step after the test, in reverse order, before those registered earlier and before the server stops. */
  cleanup(this: void, ...steps: (() => Promise<unknown>)[]): void;
}

/** Registers the hooks in the describe() it is called in; see the top of this file. */
export function redisInstances(defaults: RedisInstancesOptions = {}): RedisInstances {
  let current: RedisServer | undefined;
  const closers: (() => Promise<unknown>)[] = [];
  const server = (): RedisServer => {
    if (current === undefined) throw new Error('redisInstances: the server is started by beforeEach, use it inside a test');
    return current;
  };

  beforeEach(async () => {
    current = await startRedis();
  });
  afterEach(async () => {
    const steps = closers.splice(0).reverse();
    let failure: { error: unknown } | undefined;
    for (const close of steps) {
      try {
        await close();
      } catch (error) {
        if (defaults.ignoreCloseErrors !== true) failure ??= { error };
      }
    }
    await current?.stop();
    current = undefined;
    if (failure !== undefined) throw failure.error;
  });

  const cleanup = (...steps: (() => Promise<unknown>)[]): void => {
    closers.push(...steps);
  };
  const instance = (options: Partial<CacheOptions> = {}, transportOptions: Partial<RedisTransportOptions> = {}): Cache<string> => {
    const endpoint = transportOptions.client === undefined ? { url: server().url } : {};
    const transport = redisTransport({ ...endpoint, ...defaults.transport, ...transportOptions });
    const cache = createCache<string>({ name: 'config', transport, ...defaults.cache, ...options });
    cleanup(
      () => cache.close(),
      () => transport.close(),
    );
    return cache;
  };

  return {
    get server() {
      return server();
    },
    instance,
    cleanup,
  };
}
