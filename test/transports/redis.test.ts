/**
 * The coherence contract against a real redis-server that each test starts on
 * a free port, so it can kill, pause and restart it; real child processes
 * where the claim is about processes.
 */
import { Socket } from 'node:net';
import { expect } from 'chai';
import { Cluster, Redis } from 'ioredis';
import { createCache, InvalidationTimeoutError, LEGACY_CHANNEL, redisTransport, type Cache, type RedisTransport, type RedisTransportOptions } from '../../src/index.ts';
import { rejectionOf } from '../support/rejection.ts';
import { spawnChild } from '../support/child.ts';
import { freePort } from '../support/ports.ts';
import { redisInstances } from '../support/redis-instances.ts';
import { startRedisCluster } from '../support/redis-server.ts';
import { isLink, waitForEvent } from '../support/wait-for-event.ts';
import type { PeerPush, PeerRequest } from '../fixtures/redis-peer.ts';

describe('redis transport (real redis-server)', function () {
  this.timeout(30_000);
  /** Each cache with its own transport (its own connections), as a separate process would have. */
  const redis = redisInstances({ transport: { heartbeatInterval: 100, heartbeatTimeout: 300, publishTimeout: 300 }, cache: { retryInterval: 100 } });
  const { instance, cleanup } = redis;

  it('propagates an invalidation to the other instances and skips its own echo', async () => {
    const [a, b] = [instance(), instance()];
    await Promise.all([a.ready(), b.ready()]);
    a.set('k', 'v');
    await expectInvalidationReaches(a, b);
    expect(a.stats().invalidated.remote.key).to.equal(0);
  });

  it('between real processes: a write in one is seen by the others', async () => {
    const peers = await Promise.all([0, 1, 2].map(() => spawnChild<PeerRequest, unknown, PeerPush>(new URL('../fixtures/redis-peer.ts', import.meta.url), [redis.server.url])));
    cleanup(async () => {
      for (const peer of peers) peer.kill();
      await Promise.all(peers.map((peer) => peer.exited));
    });
    await Promise.all(peers.map((peer) => peer.request({ op: 'ready' })));
    await Promise.all(peers.map((peer) => peer.request({ op: 'set', key: 'flag', value: 'on' })));
    await peers[0]!.request({ op: 'invalidate', key: 'flag' });
    for (const peer of peers.slice(1)) {
      const push = await peer.waitFor((m) => m.type === 'remote-invalidated' && m.key === 'flag');
      expect(push.sentAt).to.be.a('number');
      expect(await peer.request({ op: 'has', key: 'flag' })).to.equal(false);
    }
    expect(peers[0]!.pushes).to.deep.equal([]);
  });

  it('works locally and degraded while Redis is absent, then connects and flushes what it queued', async () => {
    await redis.server.stop();
    const a = instance({ degradedTtl: 60_000 });
    expect(a.snapshot().link).to.equal('degraded');
    expect(await a.get('k', () => 'local')).to.equal('local');
    // Nothing can accept it: invalidate() rejects at invalidateTimeout, naming the key, which stays queued.
    const failure = await rejectionOf(a.invalidate('k'));
    expect(failure).to.be.instanceOf(InvalidationTimeoutError).and.deep.include({ keys: ['k'], clear: false });
    expect(a.stats().publishFailed).to.be.at.least(1);
    expect(a.stats().publishQueueDepth).to.equal(1);
    const flushed = waitForEvent(a, 'the queued publish', (e) => e.type === 'published' && e.keys.length === 1 && a.stats().publishQueueDepth === 0);
    await redis.server.restart();
    await a.ready();
    await flushed;
  });

  for (const fault of ['restart', 'client-kill'] as const) {
    it(`a dropped subscriber (${fault}) degrades the instance, caps entry lifetimes, and resyncs on reconnect`, async () => {
      const a = instance({ ttl: 60_000, degradedTtl: 50 });
      await a.ready();
      a.set('before', 'v');
      const degraded = waitForEvent(a, 'degraded link', isLink('degraded'));
      if (fault === 'restart') await redis.server.kill();
      else await redis.server.clientKill('pubsub');
      const lost = await degraded;
      expect(lost).to.include({ reason: 'connection-lost' });
      expect(a.snapshot().entries[0]?.expiresAt).to.be.at.most((lost.type === 'link.changed' && lost.entriesExpireBy) || 0);
      const resync = waitForEvent(a, 'resync', (e) => e.type === 'invalidated' && e.reason === 'resync');
      if (fault === 'restart') await redis.server.restart();
      await resync;
      expect(a.has('before')).to.equal(false);
      expect(a.snapshot().link).to.equal('connected');
      expect(a.stats()).to.include({ degradations: 1 });
      expect(a.stats().resynced).to.deep.equal({ exact: 0, full: 1 });
    });
  }

  it('a server that stops answering without closing TCP (SIGSTOP) is caught by the heartbeat', async () => {
    const a = instance();
    await a.ready();
    a.set('k', 'v');
    const degraded = waitForEvent(a, 'heartbeat timeout', isLink('degraded'), 5_000);
    const pausedAt = Date.now();
    await redis.server.pause();
    const event = await degraded;
    expect(event).to.include({ reason: 'heartbeat-timeout' });
    // heartbeatTimeout 300 ms + one 100 ms interval, with slack for a loaded machine.
    expect(Date.now() - pausedAt).to.be.below(3_000);
    const resync = waitForEvent(a, 'resync', (e) => e.type === 'invalidated' && e.reason === 'resync', 15_000);
    await redis.server.resume();
    await resync;
    expect(a.has('k')).to.equal(false);
  });

  it('a publish that fails while Redis is unreachable is queued and reaches the peers once it answers again', async () => {
    const observer = redis.server.client();
    const heard: string[] = [];
    // Heartbeats go out on the channel too; this observer listens for the invalidation.
    observer.on('message', (_channel: string, payload: string) => {
      if (!payload.includes('"op":"beat"')) heard.push(payload);
    });
    await observer.subscribe('coherent-cache:config');
    const a = instance({ invalidateTimeout: 20_000 });
    await a.ready();
    await redis.server.pause();
    const failed = waitForEvent(a, 'the publish timing out', (e) => e.type === 'publish.failed', 15_000);
    // invalidate() resolves only once its message was accepted: after the server answers again.
    const invalidated = a.invalidate('k');
    expect(a.has('k')).to.equal(false);
    await failed;
    expect(a.stats().publishFailed).to.equal(1);
    const flushed = waitForEvent(a, 'queued publish sent', (e) => e.type === 'published' && a.stats().publishQueueDepth === 0, 15_000);
    await redis.server.resume();
    await flushed;
    await invalidated;
    await waitUntilTrue(() => heard.length > 0, 'observer heard the queued invalidation');
    expect(JSON.parse(heard[0]!)).to.include({ op: 'del', cache: 'config' });
  });

  it('rejects hostile payloads on the channel and keeps listening', async () => {
    const a = instance();
    await a.ready();
    a.set('k', 'v');
    const raw = redis.server.client();
    const rejections = [waitForEvent(a, 'not-json rejection', (e) => e.type === 'message.rejected' && e.reason === 'not-json')];
    await raw.publish('coherent-cache:config', 'not json at all');
    await raw.publish('coherent-cache:config', Buffer.alloc(1 << 20, 'x'));
    await Promise.all(rejections);
    const dropped = waitForEvent(a, 'valid remote invalidation', (e) => e.type === 'invalidated' && e.origin === 'remote');
    await raw.publish('coherent-cache:config', JSON.stringify({ v: 1, cache: 'config', op: 'del', keys: ['k'], origin: 'inst_other', sentAt: Date.now() }));
    await dropped;
    expect(a.stats().messageRejected).to.include({ 'not-json': 1, 'too-large': 1 });
  });

  it('speaks the legacy format with an old process on sentri:compat-config:invalidate', async () => {
    const a = instance({ legacyChannel: LEGACY_CHANNEL });
    await a.ready();
    a.set('compat:deepseek', 'v');
    const old = redis.server.client();
    const oldHeard: string[] = [];
    const oldSubscriber = redis.server.client();
    oldSubscriber.on('message', (_channel: string, payload: string) => oldHeard.push(payload));
    await oldSubscriber.subscribe(LEGACY_CHANNEL);
    const dropped = waitForEvent(a, 'legacy invalidation', (e) => e.type === 'invalidated' && e.origin === 'remote');
    await old.publish(LEGACY_CHANNEL, JSON.stringify({ slotId: 'compat:deepseek', _origin: 'inst_legacy' }));
    await dropped;
    expect(a.has('compat:deepseek')).to.equal(false);
    await a.invalidate('compat:other');
    const fromNew = () => oldHeard.map((payload) => JSON.parse(payload) as { _origin: string }).filter((message) => message._origin === a.instanceId);
    await waitUntilTrue(() => fromNew().length > 0, 'old process heard the new one');
    expect(fromNew()).to.deep.equal([{ slotId: 'compat:other', _origin: a.instanceId }]);
  });

  it('uses caller-owned clients without closing them', async () => {
    const client = new Redis(redis.server.url);
    const transport = redisTransport({ client, heartbeatInterval: 100, heartbeatTimeout: 300 });
    const a = createCache<string>({ name: 'config', transport });
    const b = instance();
    await Promise.all([a.ready(), b.ready()]);
    await expectInvalidationReaches(a, b);
    await a.close();
    await transport.close();
    expect(await client.ping()).to.equal('PONG');
    client.disconnect();
  });

  it("accepts a client from the service's own copy of ioredis (checked by shape, not instanceof)", async () => {
    const real = new Redis(redis.server.url);
    cleanup(() => Promise.resolve(real.disconnect()));
    // Stands in for an ioredis loaded from another node_modules: same shape, another class.
    const foreign = {
      isCluster: false,
      get status() {
        return real.status;
      },
      publish: (channel: string, message: string) => real.publish(channel, message),
      duplicate: (options: Record<string, unknown>) => real.duplicate(options),
    };
    const transport = redisTransport({ client: foreign as unknown as Redis, heartbeatInterval: 100, heartbeatTimeout: 300 });
    const a = createCache<string>({ name: 'config', transport });
    cleanup(
      () => a.close(),
      () => transport.close(),
    );
    const b = instance();
    await Promise.all([a.ready(), b.ready()]);
    await expectInvalidationReaches(a, b);
    expect(() => redisTransport({ client: { publish: () => 1 } as unknown as Redis })).to.throw(/option "redis.client"/);
  });

  it('rejects bad transport options with a message that names the option', () => {
    expect(() => redisTransport({})).to.throw(/option "redis" needs exactly one of "url" or "client"/);
    expect(() => redisTransport({ url: 'http://x' })).to.throw(/option "redis.url"/);
    expect(() => redisTransport({ url: redis.server.url, heartbeatTimeout: -1 })).to.throw(/option "redis.heartbeatTimeout"/);
    expect(() => redisTransport({ url: redis.server.url, hearbeat: 1 } as RedisTransportOptions)).to.throw(/option "redis.hearbeat" is not a known option/);
  });
});

describe('redis transport on a 3-node Redis Cluster (sharded pub/sub)', function () {
  this.timeout(60_000);
  let cluster: Awaited<ReturnType<typeof startRedisCluster>>;
  const transports: RedisTransport[] = [];
  const clients: Cluster[] = [];

  before(async () => {
    cluster = await startRedisCluster({ masters: 3 });
  });
  after(async () => {
    await Promise.all(transports.map((t) => t.close()));
    for (const client of clients) client.disconnect();
    await cluster.stop();
  });

  it('a killed subscriber reconnects and subscribes again (a cluster node connection does not reconnect by itself)', async () => {
    const client = new Cluster(cluster.startupNodes);
    clients.push(client);
    const transport = redisTransport({ client, heartbeatInterval: 100, heartbeatTimeout: 500 });
    transports.push(transport);
    const cache = createCache<string>({ name: 'config', transport });
    await cache.ready();
    const lost = waitForEvent(cache, 'degraded', isLink('degraded'));
    const back = waitForEvent(cache, 'connected again', (e) => e.type === 'link.changed' && e.state === 'connected' && e.reason === 'connected');
    await Promise.all(cluster.nodes.map((node) => node.clientKill('pubsub')));
    await lost;
    await back;
    await cache.close();
  });

  it('invalidates across instances with SPUBLISH/SSUBSCRIBE', async () => {
    const caches = [0, 1].map(() => {
      const client = new Cluster(cluster.startupNodes);
      clients.push(client);
      const transport = redisTransport({ client, heartbeatInterval: 100, heartbeatTimeout: 500 });
      transports.push(transport);
      return createCache<string>({ name: 'config', transport });
    });
    const [a, b] = caches as [Cache<string>, Cache<string>];
    await Promise.all([a.ready(), b.ready()]);
    b.set('k', 'v');
    const dropped = waitForEvent(b, 'sharded invalidation', (e) => e.type === 'invalidated' && e.origin === 'remote');
    await a.invalidate('k');
    await dropped;
    expect(b.has('k')).to.equal(false);
    expect(a.stats().published.messages).to.equal(1);
    await Promise.all(caches.map((cache) => cache.close()));
  });

  it('closed while a subscription is still finding its slot owner: the subscription fails and opens no connection', async () => {
    const ports = cluster.nodes.map((node) => node.port);
    // The other tests' transports stay open until the end.
    const before = socketsTo(ports);
    const client = new Cluster(cluster.startupNodes);
    const transport = redisTransport({ client, heartbeatInterval: 100, heartbeatTimeout: 500 });
    // The subscription waits for the client to be ready and asks which node owns the channel; close() comes first.
    const subscribing = transport.subscribe('coherent-cache:config', () => undefined);
    await transport.close();
    expect((await rejectionOf(subscribing)).message).to.equal('redis transport is closed');
    client.disconnect();
    await waitUntilTrue(() => socketsTo(ports) === before, 'no connection of its own left to any node', 2_000);
  });

  it('onWritable: its listeners hear the Cluster client become ready again after every connection of it was killed', async () => {
    const client = new Cluster(cluster.startupNodes);
    clients.push(client);
    const transport = redisTransport({ client, heartbeatInterval: 100, heartbeatTimeout: 500 });
    transports.push(transport);
    if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
    let writable = 0;
    const stop = transport.onWritable(() => writable++);
    // The client reconnects as a whole only once it lost every node it knows: connect to each, then kill them all
    // (TYPE normal: the subscribers stay; the admin connection that kills skips itself).
    const killAll = async (): Promise<void> => {
      await Promise.all(client.nodes('master').map((node) => node.ping()));
      const lost = new Promise((resolve) => client.once('close', resolve));
      for (const node of cluster.nodes) await node.clientKill('normal');
      await lost;
    };
    await killAll();
    await waitUntilTrue(() => writable === 1, 'the Cluster client ready again', 10_000);
    expect(client.status).to.equal('ready');
    stop();
    const readyAgain = killAll().then(() => new Promise((resolve) => client.once('ready', resolve)));
    await readyAgain;
    expect(writable, 'unsubscribed: not told again').to.equal(1);
  });
});

describe('redis transport: free-port sanity', () => {
  it('reports degraded, not crashed, when nothing listens', async () => {
    const port = await freePort();
    const transport = redisTransport({ url: `redis://127.0.0.1:${port}`, redisOptions: { retryStrategy: () => 50 } });
    const cache = createCache<string>({ name: 'config', transport });
    expect(cache.snapshot().link).to.equal('degraded');
    cache.set('k', 'v');
    expect(cache.peek('k')).to.equal('v');
    await cache.close();
    await transport.close();
  });
});

/** `to` holds k; `from` invalidates it; `to` drops it through the transport. */
async function expectInvalidationReaches(from: Cache<string>, to: Cache<string>): Promise<void> {
  to.set('k', 'v');
  const dropped = waitForEvent(to, 'remote invalidation', (e) => e.type === 'invalidated' && e.origin === 'remote');
  await from.invalidate('k');
  await dropped;
  expect(to.has('k')).to.equal(false);
}

/** Open sockets of this process to any of `ports`. */
function socketsTo(ports: readonly number[]): number {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter((handle) => handle instanceof Socket && ports.includes(handle.remotePort ?? -1)).length;
}

async function waitUntilTrue(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
