/**
 * The receiving side of the throughput scenario: `throughput-child.ts <redis-url>`.
 * One coherent-cache instance on the bench's Redis; for each run the bench
 * announces the key prefix and count, and this process reports the wall clock
 * (`wallNow()`) at which it had seen a remote `invalidated` event for every key.
 */
import { createCache, redisTransport } from '../src/index.ts';
import { clockOffset, exitWithParent, sendToParent, wallNow } from './peers.ts';
import { THROUGHPUT_CACHE, type ThroughputToChild, type ThroughputToParent } from './throughput.ts';

const url = process.argv[2] as string;
if (!/^redis:\/\//.test(url)) throw new Error('usage: throughput-child.ts <redis-url>');
exitWithParent();

interface Expectation {
  readonly run: number;
  readonly prefix: string;
  readonly seen: Uint8Array;
  received: number;
  duplicates: number;
  firstAt: number;
  reported: boolean;
}

let current: Expectation | undefined;
let degradations = 0;

const transport = redisTransport({ url });
const cache = createCache<number>({ name: THROUGHPUT_CACHE, transport });

function report(expectation: Expectation, at: number): void {
  if (expectation.reported) return;
  expectation.reported = true;
  const stats = cache.stats();
  const rejected = Object.values(stats.rejected).reduce((sum, n) => sum + n, 0);
  void sendToParent({
    type: 'complete',
    run: expectation.run,
    at,
    firstAt: expectation.firstAt,
    received: expectation.received,
    duplicates: expectation.duplicates,
    degradations,
    rejected,
  } satisfies ThroughputToParent);
}

cache.on('invalidated', (event) => {
  const expectation = current;
  if (event.origin !== 'remote' || event.scope !== 'key' || expectation === undefined || !event.key.startsWith(expectation.prefix)) return;
  const index = Number(event.key.slice(expectation.prefix.length));
  if (expectation.seen[index] === 1) {
    expectation.duplicates++;
    return;
  }
  expectation.seen[index] = 1;
  if (expectation.received++ === 0) expectation.firstAt = wallNow();
  if (expectation.received === expectation.seen.length) report(expectation, wallNow());
});
cache.on('link.changed', (event) => {
  if (event.state === 'degraded' && event.reason !== 'starting') degradations++;
});

process.on('message', (message: ThroughputToChild) => {
  if (message.type === 'expect') {
    current = { run: message.run, prefix: message.prefix, seen: new Uint8Array(message.count), received: 0, duplicates: 0, firstAt: -1, reported: false };
    void sendToParent({ type: 'armed', run: message.run } satisfies ThroughputToParent);
  } else if (message.type === 'report' && current !== undefined) {
    report(current, wallNow());
  } else if (message.type === 'close') {
    void cache
      .close()
      .then(() => transport.close())
      .finally(() => process.exit(0));
  }
});

await cache.ready();
await sendToParent({ type: 'ready', clockOffset: clockOffset() } satisfies ThroughputToParent);
