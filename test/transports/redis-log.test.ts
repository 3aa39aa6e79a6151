/**
 * The channel's log in a real redis-server (each test starts its own on a
 * free port, so it can kill, pause and restart it): a gap in one instance's
 * link is repaired by reading the log, so only the keys invalidated in the gap
 * are loaded again; where the log cannot cover the gap (trimmed, lost with the
 * server's data) everything is dropped, and the events say which happened.
 */
import { expect } from 'chai';
import { Cluster } from 'ioredis';
import { createCache, redisTransport, type Cache, type CacheEventOf } from '../../src/index.ts';
import { logKeys, parseFrame } from '../../src/transports/redis-log.ts';
import { redisInstances } from '../support/redis-instances.ts';
import { startRedisCluster, type RedisServer } from '../support/redis-server.ts';
import { isLink, waitForEvent } from '../support/wait-for-event.ts';

const CHANNEL = 'coherent-cache:config';

describe('redis transport with a log (real redis-server)', function () {
  this.timeout(30_000);
  const redis = redisInstances({
    transport: { heartbeatInterval: 100, heartbeatTimeout: 300, publishTimeout: 300, log: true },
    cache: { retryInterval: 100, ttl: 60_000, degradedTtl: 5_000 },
  });
  const { instance } = redis;

  const resynced = (cache: Cache<string>): Promise<CacheEventOf<'resynced'>> =>
    waitForEvent(cache, 'a resync', (e) => e.type === 'resynced' && cache.snapshot().link === 'connected') as Promise<CacheEventOf<'resynced'>>;

  async function fill(cache: Cache<string>, count: number): Promise<void> {
    for (let i = 0; i < count; i++) await cache.get(`k${i}`, () => `v${i}`);
  }

  it('keeps a bounded Stream and a position per channel, in the channel’s slot, and frames what it publishes', async () => {
    const [a, b] = [instance(), instance()];
    await Promise.all([a.ready(), b.ready()]);
    b.set('k', 'v');
    const heard = waitForEvent(b, 'the invalidation', (e) => e.type === 'message.received');
    await a.invalidate('k');
    const received = await heard;
    expect(received).to.have.property('position').that.deep.includes({ seq: 1 });
    const [stateKey, streamKey] = logKeys(CHANNEL);
    expect([stateKey, streamKey]).to.deep.equal([`{${CHANNEL}}:log-state`, `{${CHANNEL}}:log`]);
    expect(await redis.server.command('XLEN', streamKey)).to.equal(1);
    expect(await redis.server.command('HGET', stateKey, 'seq')).to.equal('1');
    // A channel with its own hash tag keeps it, so the log shares the channel's slot on a cluster.
    expect(logKeys('app:{tenant}:cache')).to.deep.equal(['app:{tenant}:cache:log-state', 'app:{tenant}:cache:log']);
    expect(parseFrame('#e1:7:{"v":1}')).to.deep.equal({ payload: '{"v":1}', position: { epoch: 'e1', seq: 7, entry: true } });
    expect(parseFrame('~e1:7:{}')?.position.entry).to.equal(false);
    for (const bad of ['{"v":1}', '#e1:{}', '#:1:{}', '#e1::{}', '#e1:x:{}', '#e1:-1:{}']) expect(parseFrame(bad), bad).to.equal(undefined);
  });

  it('its subscriber killed, an instance reloads only the keys invalidated while it was away (exact resync)', async () => {
    const [a, b] = [instance(), instance()];
    await Promise.all([a.ready(), b.ready()]);
    await fill(b, 200);
    const lost = waitForEvent(b, 'degraded', isLink('degraded'));
    // Both subscribers go; a's publishing connection stays, so its invalidations reach the log meanwhile.
    await redis.server.clientKill('pubsub');
    await lost;
    for (let i = 0; i < 20; i++) await a.invalidate(`k${i}`);
    const repaired = await resynced(b);
    expect(repaired).to.include({ mode: 'exact', missed: 20, keys: 20, dropped: 20 });
    let loads = 0;
    for (let i = 0; i < 200; i++) await b.get(`k${i}`, () => `reloaded ${++loads}`);
    expect(loads, 'only the invalidated keys load again').to.equal(20);
    expect(b.stats().resynced).to.include({ exact: 1 });
  });

  it('a server paused (SIGSTOP) past the heartbeat timeout: the invalidations queued meanwhile reach the log when it resumes, and the repair is exact', async () => {
    const [a, b] = [instance({ invalidateTimeout: 20_000 }), instance()];
    await Promise.all([a.ready(), b.ready()]);
    await fill(b, 50);
    const degraded = waitForEvent(b, 'degraded', isLink('degraded'));
    await redis.server.pause();
    await degraded;
    // Queued while the server sleeps; acknowledged once it answers.
    const writes = [0, 1, 2].map((i) => a.invalidate(`k${i}`));
    const repaired = resynced(b);
    await redis.server.resume();
    await Promise.all(writes);
    expect((await repaired).mode).to.equal('exact');
    // Whether the repair read them or they arrived as messages after it: once b applied the log up to a later entry, it has them.
    await a.invalidate('later');
    const head = Number(await redis.server.command('HGET', logKeys(CHANNEL)[0], 'seq'));
    const caughtUp = (): boolean => (b.snapshot().log?.seq ?? 0) >= head && b.snapshot().repair === undefined;
    if (!caughtUp()) await waitForEvent(b, `the log applied up to ${head}`, caughtUp);
    expect([0, 1, 2].map((i) => b.has(`k${i}`))).to.deep.equal([false, false, false]);
    expect(b.has('k3'), 'the rest stays cached').to.equal(true);
  });

  it('falls back to a full resync when the gap outran the log’s retention', async () => {
    // b's subscriber is its own, so the test can keep it away while a publishes.
    const subscriber = redis.server.client();
    const a = instance({}, { log: { maxEntries: 5 } });
    const b = instance({}, { client: redis.server.client(), subscriber, log: { maxEntries: 5 } });
    await Promise.all([a.ready(), b.ready()]);
    await fill(b, 10);
    const lost = waitForEvent(b, 'degraded', isLink('degraded'));
    subscriber.disconnect();
    await lost;
    // Exact trimming is approximate in Redis (whole nodes): enough entries to leave no doubt.
    for (let i = 0; i < 300; i++) await a.invalidate(`x${i}`);
    const repaired = resynced(b);
    await subscriber.connect();
    expect(await repaired).to.include({ mode: 'full', cause: 'log-trimmed', dropped: 10 });
  });

  it('falls back to a full resync when the server lost its data (restart without persistence): a new epoch', async () => {
    const [a, b] = [instance(), instance()];
    await Promise.all([a.ready(), b.ready()]);
    await a.invalidate('k');
    await fill(b, 3);
    const lost = waitForEvent(b, 'degraded', isLink('degraded'));
    await redis.server.kill();
    await lost;
    const repaired = resynced(b);
    await redis.server.restart();
    expect(await repaired).to.include({ mode: 'full', cause: 'log-reset', dropped: 3 });
  });

  it('a log state someone else overwrote (a position that is not a number) cannot vouch for a gap: a full resync, not a read failing forever', async () => {
    const [a, b] = [instance(), instance()];
    await Promise.all([a.ready(), b.ready()]);
    await fill(b, 3);
    await a.invalidate('k0');
    const lost = waitForEvent(b, 'degraded', isLink('degraded'));
    await redis.server.clientKill('pubsub');
    await lost;
    await redis.server.command('HSET', logKeys(CHANNEL)[0], 'seq', 'not a number');
    expect(await resynced(b)).to.include({ mode: 'full', cause: 'log-trimmed' });
    expect(b.stats().repairFailed).to.equal(0);
  });

  it('trims entries older than maxAge', async () => {
    const a = instance({}, { log: { maxEntries: 100, maxAge: 60_000 } });
    await a.ready();
    const streamKey = logKeys(CHANNEL)[1];
    // An entry from long ago (its id is its time), then fresh ones: publishing trims by age (every 64 entries).
    await redis.server.command('XADD', streamKey, '1-1', 's', '0', 'p', 'ancient');
    for (let i = 0; i < 63; i++) await a.invalidate(`k${i}`);
    const kept = async (): Promise<string[]> => ((await redis.server.command('XRANGE', streamKey, '-', '+')) as [string, string[]][]).map(([, fields]) => fields[3] as string);
    expect(await kept(), 'not yet: 63 entries').to.include('ancient');
    await a.invalidate('k63');
    expect(await kept()).to.have.length(64).and.not.include('ancient');
  });

  it('repairs signed messages too, and a cache without the log still hears a logged peer', async () => {
    const secret = 'a secret of at least thirty-two characters!';
    const logged = instance({ secret });
    const plain = instance({ secret }, { log: false });
    await Promise.all([logged.ready(), plain.ready()]);
    plain.set('k', 'v');
    logged.set('j', 'v');
    const heard = waitForEvent(plain, 'the framed invalidation', (e) => e.type === 'invalidated' && e.origin === 'remote');
    await logged.invalidate('k');
    await heard;
    expect(plain.has('k')).to.equal(false);
    // The plain peer publishes without positions: the logged cache can no longer trust its log to cover a gap.
    const unlogged = waitForEvent(logged, 'an unlogged peer', (e) => e.type === 'peer.heard' && e.unlogged === true);
    await unlogged;
    expect(logged.snapshot().unlogged).to.equal(true);
  });
});

describe('redis transport with a log on a Redis Cluster (real redis-servers)', function () {
  this.timeout(60_000);
  let cluster: Awaited<ReturnType<typeof startRedisCluster>>;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    cluster = await startRedisCluster({ masters: 3 });
  });
  after(async () => {
    for (const close of closers.reverse()) await close();
    await cluster.stop();
  });

  function instance(): Cache<string> {
    const client = new Cluster(cluster.startupNodes);
    const transport = redisTransport({ client, heartbeatInterval: 100, heartbeatTimeout: 500, log: true });
    const cache = createCache<string>({ name: 'config', transport, ttl: 60_000 });
    closers.push(
      () => cache.close(),
      () => transport.close(),
      () => Promise.resolve(client.disconnect()),
    );
    return cache;
  }

  it('keeps the log in the channel’s slot, publishes framed entries with SPUBLISH, and repairs a dropped subscriber exactly', async () => {
    const [a, b] = [instance(), instance()];
    await Promise.all([a.ready(), b.ready()]);
    const any = cluster.nodes[0] as RedisServer;
    const slots = await Promise.all([CHANNEL, ...logKeys(CHANNEL)].map((name) => any.command('CLUSTER', 'KEYSLOT', name)));
    expect(new Set(slots).size, 'channel, state and stream in one slot').to.equal(1);

    for (const key of ['k', 'j']) await b.get(key, () => 'old');
    const heard = waitForEvent(b, 'a positioned invalidation', (e) => e.type === 'message.received' && e.position !== undefined);
    await a.invalidate('x');
    await heard;

    const lost = waitForEvent(b, 'degraded', isLink('degraded'));
    const repaired = waitForEvent(b, 'an exact repair', (e) => e.type === 'resynced' && e.mode === 'exact');
    await Promise.all(cluster.nodes.map((node) => node.clientKill('pubsub')));
    await lost;
    await a.invalidate('k');
    await repaired;
    const sentinel = waitForEvent(b, 'a later message', (e) => e.type === 'message.received' && e.keys === 1 && b.snapshot().link === 'connected');
    await a.invalidate('later');
    await sentinel;
    expect(b.has('k')).to.equal(false);
    expect(b.has('j')).to.equal(true);
  });
});
