/**
 * The receiving side of the throughput scenario: `throughput-child.ts <redis-url>`.
 * One coherent-cache instance on the bench's Redis; for each run the bench
 * announces the key prefix and count, and this process reports the wall clock
 * (`wallNow()`) at which it had seen a remote `invalidated` event for every key.
 */
import { createCache, redisTransport } from '../src/index.ts';
import { serveParent } from '../test/support/child.ts';
import { clockOffset, wallNow } from './peers.ts';
import { THROUGHPUT_CACHE, type ThroughputToChild, type ThroughputToParent } from './throughput.ts';

const url = process.argv[2] as string;
if (!/^redis:\/\//.test(url)) throw new Error('usage: throughput-child.ts <redis-url>');
// The bench's requests, each answered once handled; this process exits when the bench closes the channel.
const parent = serveParent<ThroughputToChild, boolean, ThroughputToParent>(async (message) => {
  if (message.type === 'expect') {
    current = { run: message.run, prefix: message.prefix, seen: new Uint8Array(message.count), received: 0, duplicates: 0, firstAt: -1, reported: false };
  } else if (message.type === 'report' && current !== undefined) {
    report(current, wallNow());
  } else if (message.type === 'close') {
    await cache.close();
    await transport.close();
  }
  return true;
});

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
  const rejected = Object.values(stats.messageRejected).reduce((sum, n) => sum + n, 0);
  parent.push({
    type: 'complete',
    run: expectation.run,
    at,
    firstAt: expectation.firstAt,
    received: expectation.received,
    duplicates: expectation.duplicates,
    degradations,
    rejected,
  });
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

await cache.ready();
parent.push({ type: 'ready', clockOffset: clockOffset() });
