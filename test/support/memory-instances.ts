// Test support: a fresh MemoryBus per test and ready caches on it, each closed after the test.
//
// Inside a describe():
//   const memory = memoryInstances({ beatInterval: 10 });
//   const { instance } = memory;
//   it('...', async () => { const a = await instance(); const lossy = new DroppingTransport(memory.bus.transport()); ... });
//
// It registers a beforeEach that makes the bus and an afterEach that runs what was
// registered with cleanup() in reverse order (so each instance's transport, then its
// cache), ignoring a rejected step.
import { createCache, MemoryBus, type Cache, type CacheOptions, type Transport } from '../../src/index.ts';

export interface MemoryInstances {
  /** The current test's bus (made by beforeEach). */
  readonly bus: MemoryBus;
  /**
   * A ready cache named 'config' (metrics and tracing off) on `transport`, by default a new
   * one on `bus`; the cache and the transport are closed after the test.
   */
  instance(this: void, options?: Partial<CacheOptions>, transport?: Transport): Promise<Cache<string>>;
  /** Runs each step after the test, in reverse order, before those registered earlier. */
  cleanup(this: void, ...steps: (() => Promise<unknown>)[]): void;
}

/** Registers the hooks in the describe() it is called in; `defaults` are every instance's cache options before the test's own. */
export function memoryInstances(defaults: Partial<CacheOptions> = {}): MemoryInstances {
  let current: MemoryBus | undefined;
  const closers: (() => Promise<unknown>)[] = [];
  const bus = (): MemoryBus => {
    if (current === undefined) throw new Error('memoryInstances: the bus is made by beforeEach, use it inside a test');
    return current;
  };

  beforeEach(() => {
    current = new MemoryBus();
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  });

  const cleanup = (...steps: (() => Promise<unknown>)[]): void => {
    closers.push(...steps);
  };
  const instance = async (options: Partial<CacheOptions> = {}, transport: Transport = bus().transport()): Promise<Cache<string>> => {
    const cache = createCache<string>({ name: 'config', transport, metrics: false, tracing: false, ...defaults, ...options });
    cleanup(
      () => cache.close(),
      () => transport.close(),
    );
    await cache.ready();
    return cache;
  };

  return {
    get bus() {
      return bus();
    },
    instance,
    cleanup,
  };
}
