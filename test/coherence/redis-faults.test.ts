/**
 * The staleness bound under real faults of a real redis-server: a read never
 * returns a value older than a write by more than degradedTtl, measured from
 * the moment that write's invalidate() resolved, and in fact never past
 * degradedTtl after the fault began (the lease its heartbeats renew lapses).
 * Each fault is one the bound once failed under (the server paused for writes,
 * stopped with SIGSTOP, a shutdown with an invalidation queued, staleIfError
 * through a long outage).
 */
import { expect } from 'chai';
import { UndeliveredInvalidationsError, type Cache, type CacheEvent, type CacheOptions } from '../../src/index.ts';
import { rejectionOf } from '../support/rejection.ts';
import { redisInstances } from '../support/redis-instances.ts';

const DEGRADED_TTL = 400;
/** Timer and clock granularity between the cache's reading and the probe's. */
const SLACK_MS = 5;

/** Reads `key` on `cache` every few ms and remembers the last time it was still served. */
function serveProbe(cache: Cache<string>, key: string): { lastServedAt: () => number; stop: () => void } {
  let lastServedAt = Number.NEGATIVE_INFINITY;
  const read = (): void => {
    if (cache.peek(key) !== undefined) lastServedAt = Date.now();
  };
  read();
  const timer = setInterval(read, 2);
  return { lastServedAt: () => lastServedAt, stop: () => clearInterval(timer) };
}

/** When a promise settled, and how. */
async function settledAt(promise: Promise<unknown>): Promise<{ at: number; ok: boolean; error?: unknown }> {
  try {
    await promise;
    return { at: Date.now(), ok: true };
  } catch (error) {
    return { at: Date.now(), ok: false, error };
  }
}

describe('the staleness bound under redis-server faults', function () {
  this.timeout(30_000);
  const redis = redisInstances({
    transport: { heartbeatInterval: 100, heartbeatTimeout: 300, publishTimeout: 300 },
    cache: { degradedTtl: DEGRADED_TTL, retryInterval: 50, metrics: false, tracing: false },
    ignoreCloseErrors: true,
  });
  const { instance } = redis;

  async function pair(options: Partial<CacheOptions> = {}): Promise<[Cache<string>, Cache<string>]> {
    const [writer, reader] = [instance(options), instance(options)];
    await Promise.all([writer.ready(), reader.ready()]);
    return [writer, reader];
  }

  it('CLIENT PAUSE WRITE (PUBLISH blocks, PING answers): the reader stops serving within degradedTtl, before the write is acknowledged', async () => {
    const [writer, reader] = await pair({ invalidateTimeout: 10_000 });
    reader.set('k', 'old');
    const probe = serveProbe(reader, 'k');
    const pausedAt = Date.now();
    await redis.server.command('CLIENT', 'PAUSE', 1_500, 'WRITE');
    const ack = await settledAt(writer.invalidate('k'));
    probe.stop();
    expect(ack.ok, 'acknowledged once the pause ends').to.equal(true);
    expect(ack.at - pausedAt).to.be.at.least(1_000);
    expect(probe.lastServedAt() - pausedAt, 'served at most degradedTtl into the pause').to.be.below(DEGRADED_TTL + SLACK_MS);
    expect(reader.peek('k')).to.equal(undefined);
    const lapse = reader.recentEvents().findLast((e) => e.type === 'link.changed' && e.state === 'degraded');
    expect(lapse, 'its lease lapsed: it was never told').to.include({ reason: 'lease-expired' });
  });

  it('SIGSTOP: the reader stops serving within degradedTtl; the write is acknowledged once the server answers again', async () => {
    const [writer, reader] = await pair({ invalidateTimeout: 10_000 });
    reader.set('k', 'old');
    const probe = serveProbe(reader, 'k');
    const stoppedAt = Date.now();
    await redis.server.pause();
    const invalidated = settledAt(writer.invalidate('k'));
    await new Promise((resolve) => setTimeout(resolve, 2 * DEGRADED_TTL));
    expect(reader.peek('k'), 'nothing served while it cannot prove it hears').to.equal(undefined);
    await redis.server.resume();
    const ack = await invalidated;
    probe.stop();
    expect(ack.ok).to.equal(true);
    expect(probe.lastServedAt() - stoppedAt).to.be.below(DEGRADED_TTL + SLACK_MS);
  });

  it('staleIfError through a long outage serves nothing past degradedTtl', async () => {
    const [writer, reader] = await pair({ ttl: 50, staleIfError: 60_000, invalidateTimeout: 10_000 });
    expect(await reader.get('k', () => 'old')).to.equal('old');
    await new Promise((resolve) => setTimeout(resolve, 60));
    // Expired, inside its stale-if-error window: a failing loader may get it while the link is proven.
    expect(await reader.get('k', () => Promise.reject(new Error('source down')))).to.equal('old');
    const stoppedAt = Date.now();
    await redis.server.pause();
    const invalidated = settledAt(writer.invalidate('k'));
    await new Promise((resolve) => setTimeout(resolve, DEGRADED_TTL + 50));
    const failure = await rejectionOf(reader.get('k', () => Promise.reject(new Error('source down'))));
    expect(failure.message, `${Date.now() - stoppedAt} ms into the outage`).to.equal('source down');
    await redis.server.resume();
    await invalidated;
  });

  it('close() with an invalidation it cannot deliver rejects within closeTimeout, naming the key, and says so in an event', async () => {
    const [writer] = await pair({ closeTimeout: 300, invalidateTimeout: 10_000 });
    const abandoned: CacheEvent<string>[] = [];
    writer.on('publish.abandoned', (event) => abandoned.push(event));
    await redis.server.stop();
    const invalidated = settledAt(writer.invalidate('k'));
    const closingAt = Date.now();
    const failure = await rejectionOf(writer.close());
    expect(Date.now() - closingAt).to.be.below(1_000);
    expect(failure).to.be.instanceOf(UndeliveredInvalidationsError).and.deep.include({ keys: ['k'], clear: false });
    expect(abandoned).to.have.length(1).and.to.deep.include.members([{ type: 'publish.abandoned', at: abandoned[0]?.at, keys: ['k'], clear: false }]);
    const outcome = await invalidated;
    expect(outcome.ok).to.equal(false);
    expect(outcome.error).to.be.instanceOf(UndeliveredInvalidationsError);
    expect(writer.stats().publishAbandoned).to.equal(1);
  });

  it('close() delivers what is queued when the server comes back within closeTimeout', async () => {
    const [writer, reader] = await pair({ closeTimeout: 5_000, invalidateTimeout: 10_000 });
    reader.set('k', 'old');
    await redis.server.pause();
    const invalidated = settledAt(writer.invalidate('k'));
    const closed = settledAt(writer.close());
    await new Promise((resolve) => setTimeout(resolve, 200));
    await redis.server.resume();
    expect((await closed).ok).to.equal(true);
    expect((await invalidated).ok).to.equal(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(reader.peek('k')).to.equal(undefined);
  });
});
