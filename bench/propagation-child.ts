/**
 * The receiving side of the propagation scenario, one process per contender
 * and round: `propagation-child.ts <contender> <redis-url> <count> <warmup>`.
 *
 * It holds an entry for every key the bench will invalidate, records the wall
 * clock (`wallNow()`) when each measured key `k:<i>` was dropped, and ships
 * the times back over IPC once it has all of them (or when asked to finish);
 * it exits when the bench closes the channel (serveParent).
 * Probe keys `p:<n>` prove the subscription is live (bentocache has no signal
 * for it); warm-up keys `w:<i>` are counted, not timed.
 */
import { Redis } from 'ioredis';
import { serveParent } from '../test/support/child.ts';
import { clockOffset, wallNow } from './peers.ts';
import { CONTENDERS, RAW_CHANNEL, BENTO_STORE, COHERENT_NAME, LOGGED_NAME, type Contender, type ToChild, type ToParent } from './propagation.ts';

interface Receiver {
  /** Whether `key` is still cached (after the run: must be false for every measured key). */
  readonly holds: (key: string) => Promise<boolean>;
  readonly close: () => Promise<void>;
}

const contender = process.argv[2] as Contender;
const url = process.argv[3] as string;
const count = Number(process.argv[4]);
const warmup = Number(process.argv[5]);
if (!CONTENDERS.includes(contender) || !/^redis:\/\//.test(url) || !(count > 0) || !(warmup >= 0)) {
  throw new Error(`usage: propagation-child.ts <${CONTENDERS.join('|')}> <redis-url> <count> <warmup>`);
}
// The bench's requests; this process exits when the bench closes the channel.
const parent = serveParent<ToChild, boolean, ToParent>((message) => {
  if (message.type === 'finish') void finish();
  return true;
});

const times = new Float64Array(count).fill(-1);
let received = 0;
let duplicates = 0;
let warmed = 0;
let probed = false;
let finished = false;

const measuredKeys = Array.from({ length: count }, (_, i) => `k:${i}`);
const warmupKeys = Array.from({ length: warmup }, (_, i) => `w:${i}`);

/** Called once the entry for `key` is gone, with the time it went. */
function dropped(key: string, at: number): void {
  const kind = key.charCodeAt(0);
  if (kind === 107 /* k */) {
    const index = Number(key.slice(2));
    if ((times[index] as number) >= 0) {
      duplicates++;
      return;
    }
    times[index] = at;
    if (++received === count) void finish();
  } else if (kind === 119 /* w */) {
    warmed++;
  } else if (kind === 112 /* p */ && !probed) {
    probed = true;
    parent.push({ type: 'probed' });
  }
}

async function receiver(): Promise<Receiver> {
  const port = Number(new URL(url).port);
  switch (contender) {
    case 'raw ioredis': {
      // The floor: PUBLISH → 'message' on a subscriber connection, then a Map delete.
      const map = new Map<string, number>();
      for (const key of [...measuredKeys, ...warmupKeys]) map.set(key, 1);
      const subscriber = new Redis(url);
      subscriber.on('message', (_channel: string, key: string) => {
        map.delete(key);
        dropped(key, wallNow());
      });
      await subscriber.subscribe(RAW_CHANNEL);
      return { holds: (key) => Promise.resolve(map.has(key)), close: () => subscriber.quit().then(() => undefined) };
    }
    case 'coherent-cache':
    case 'coherent-cache + log': {
      const { createCache, redisTransport } = await import('../src/index.ts');
      const logged = contender === 'coherent-cache + log';
      const transport = redisTransport({ url, log: logged });
      const cache = createCache<number>({ name: logged ? LOGGED_NAME : COHERENT_NAME, transport, maxEntries: count + warmup + 100 });
      // Filled once connected: connecting drops whatever was cached before (it may have missed invalidations).
      await cache.ready();
      for (const key of [...measuredKeys, ...warmupKeys]) cache.set(key, 1);
      // Listeners run after the event is applied: the entry is already gone here.
      cache.on('invalidated', (event) => {
        if (event.origin === 'remote' && event.scope === 'key') dropped(event.key, wallNow());
      });
      return {
        holds: (key) => Promise.resolve(cache.has(key)),
        close: async () => {
          await cache.close();
          await transport.close();
        },
      };
    }
    case 'bentocache': {
      const { BentoCache, bentostore } = await import('bentocache');
      const { memoryDriver } = await import('bentocache/drivers/memory');
      const { redisBusDriver } = await import('bentocache/drivers/redis');
      const bento = new BentoCache({
        default: BENTO_STORE,
        stores: {
          [BENTO_STORE]: bentostore()
            .useL1Layer(memoryDriver({ maxItems: count + warmup + 100 }))
            .useBus(redisBusDriver({ connection: { host: '127.0.0.1', port } })),
        },
      });
      for (const key of [...measuredKeys, ...warmupKeys]) await bento.set({ key, value: 1, ttl: 60_000, skipBusNotify: true });
      // bentocache emits this just before its L1 deletes the message's keys, synchronously in the same
      // function; a microtask queued here runs right after that loop, so the time is taken once the key is gone.
      bento.on('bus:message:received', ({ message }) => {
        if (message.type !== 'delete') return;
        queueMicrotask(() => {
          const at = wallNow();
          for (const key of message.keys) dropped(key, at);
        });
      });
      return {
        holds: async (key) => (await bento.has({ key })) === true,
        close: () => bento.disconnectAll(),
      };
    }
  }
}

async function finish(): Promise<void> {
  if (finished) return;
  finished = true;
  let notDropped = 0;
  // Only reachable once `target` is set: keys arrive after 'ready', which is sent after it.
  for (const key of measuredKeys) if (await target.holds(key)) notDropped++;
  parent.push({ type: 'result', times: Array.from(times), received, duplicates, warmed, notDropped });
  await target.close().catch(() => undefined);
}

const target = await receiver();
// The drop check at the end means something only if every entry was there to begin with.
for (const key of measuredKeys) if (!(await target.holds(key))) throw new Error(`${contender} receiver: ${key} was not cached before the run`);
parent.push({ type: 'ready', clockOffset: clockOffset() });
