/**
 * The Redis transport under faults the server or its clients cause, against a
 * real redis-server each test starts on a free port: a server that stops
 * answering while the transport closes, a publisher connection killed under a
 * queued invalidation, a message too big for the server to deliver, and a
 * transport closed under a live cache.
 */
import { Socket } from 'node:net';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import sinon from 'sinon';
import { createCache, redisTransport, TransportClosedError, type Cache, type RedisTransport } from '../../src/index.ts';
import { rejectionOf } from '../support/rejection.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { isLink, waitForEvent } from '../support/wait-for-event.ts';

/** Pending timers of this process (node's own count: timers are not handles). */
const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

/** Open sockets of this process to `port`. */
function socketsTo(port: number): number {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter((handle) => handle instanceof Socket && handle.remotePort === port).length;
}

function connected(transport: RedisTransport): Promise<void> {
  if (transport.status === 'connected') return Promise.resolve();
  return new Promise((resolve) => {
    const stop = transport.onStatus((change) => {
      if (change.status !== 'connected') return;
      stop();
      resolve();
    });
  });
}

describe('redis transport under faults (real redis-server)', function () {
  this.timeout(30_000);
  let server: RedisServer;
  let closers: (() => Promise<void>)[];

  beforeEach(async () => {
    // Redis's default limit, stated: a pub/sub client whose output buffer passes 32 MB is dropped.
    server = await startRedis({ args: ['--client-output-buffer-limit', 'pubsub 32mb 8mb 60'] });
    closers = [];
  });
  afterEach(async () => {
    for (const close of closers.reverse()) await close();
    await server.stop();
  });

  describe('close()', () => {
    const BOUND = 300;

    const cases = [
      // A heartbeat too slow to notice the pause first: both connections are still "ready" when close() begins.
      { when: 'both connections still look ready', heartbeatInterval: 10_000, heartbeatTimeout: 20_000 },
      // The heartbeat gave up on the subscriber first: its socket is half closed, the publisher still "ready".
      { when: 'the heartbeat already dropped the subscriber', heartbeatInterval: 50, heartbeatTimeout: 100 },
    ];
    for (const { when, heartbeatInterval, heartbeatTimeout } of cases) {
      it(`returns within its bound (publishTimeout) when the server stopped answering (SIGSTOP), ${when}, leaving no timer or socket`, async () => {
        const transport = redisTransport({ url: server.url, heartbeatInterval, heartbeatTimeout, publishTimeout: BOUND });
        await transport.subscribe('coherent-cache:config', () => undefined);
        await connected(transport);
        expect(socketsTo(server.port), 'publisher and subscriber').to.equal(2);
        const lost = new Promise<string>((resolve) => transport.onStatus((change) => resolve(change.reason)));
        await server.pause();
        if (heartbeatTimeout < BOUND) expect(await lost).to.equal('heartbeat-timeout');
        const timersBefore = timers();
        const started = performance.now();
        await transport.close();
        const took = performance.now() - started;
        expect(took, `close() took ${took.toFixed(0)} ms`).to.be.below(BOUND * 1.5);
        expect(transport.status).to.equal('closed');
        // Neither the QUIT deadline nor ioredis's own timer for a socket that never finishes closing is left.
        expect(socketsTo(server.port), 'sockets left').to.equal(0);
        expect(timers(), 'timers').to.be.at.most(timersBefore);
      });
    }
  });

  describe('onWritable', () => {
    it('a queued invalidation reaches the peer as soon as the killed publisher connection is back, not at retryInterval', async () => {
      // The writer publishes through a client the test can watch, with the options a transport built from a url uses.
      const client = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
      client.on('error', () => undefined);
      // Disconnected last: the writer's cache and transport close first.
      closers.push(() => Promise.resolve(client.disconnect()));
      const writer = instance(redisTransport({ client, heartbeatInterval: 100, heartbeatTimeout: 300, publishTimeout: 300 }));
      const peer = instance(redisTransport({ url: server.url, heartbeatInterval: 100, heartbeatTimeout: 300, publishTimeout: 300 }));
      await Promise.all([writer.ready(), peer.ready()]);
      peer.set('k', 'v');
      const links: string[] = [];
      writer.on('link.changed', (event) => links.push(`${event.state}/${event.reason}`));

      const down = new Promise((resolve) => client.once('close', resolve));
      // TYPE normal: the publishers; the subscribers (TYPE pubsub) keep listening, so the link never changes.
      expect(await server.clientKill('normal')).to.be.at.least(2);
      await down;
      const failed = waitForEvent(writer, 'the publish failing', (event) => event.type === 'publish.failed');
      const dropped = waitForEvent(peer, 'the remote invalidation', (event) => event.type === 'invalidated' && event.origin === 'remote' && event.scope === 'key' && event.key === 'k');
      const started = performance.now();
      const acknowledged = writer.invalidate('k').then(() => performance.now() - started);
      expect(await failed).to.deep.include({ type: 'publish.failed', keys: ['k'] });
      const reached = await dropped.then(() => performance.now() - started);
      const resolved = await acknowledged;
      expect(peer.has('k')).to.equal(false);
      // retryInterval is 60 s: only the publisher's 'ready' (onWritable) can explain a delivery within a second or two.
      expect(reached, `the peer dropped the key after ${reached.toFixed(0)} ms`).to.be.below(2_000);
      expect(resolved, `invalidate() resolved after ${resolved.toFixed(0)} ms`).to.be.below(2_000);
      expect(writer.stats().publishQueueDepth).to.equal(0);
      expect(links, 'the link never changed').to.deep.equal([]);
    });
  });

  describe('a message too big for Redis to deliver', () => {
    it('a raw 33 MB PUBLISH on the channel: Redis drops the subscribers, the caches degrade and resync, the message is never seen', async () => {
      const [a, b] = [0, 1].map(() => instance(redisTransport({ url: server.url, heartbeatInterval: 100, heartbeatTimeout: 300, publishTimeout: 300 }))) as [Cache<string>, Cache<string>];
      await Promise.all([a.ready(), b.ready()]);
      const rejected: string[] = [];
      for (const cache of [a, b]) {
        cache.set('before', 'v');
        cache.on('message.rejected', (event) => rejected.push(event.reason));
      }
      const degraded = [a, b].map((cache) => waitForEvent(cache, 'degraded link', isLink('degraded')));
      const resynced = [a, b].map((cache) => waitForEvent(cache, 'resync', (event) => event.type === 'invalidated' && event.reason === 'resync'));

      // Another client, not the library (its messages are at most 1 MiB): 33 MB is past the 32 MB hard limit.
      const raw = server.client();
      const receivers = await raw.publish('coherent-cache:config', Buffer.alloc(33 * (1 << 20), 'x'));
      expect(receivers, 'both subscribers were sent it').to.equal(2);
      for (const lost of await Promise.all(degraded)) expect(lost).to.include({ reason: 'connection-lost' });
      await Promise.all(resynced);
      expect(server.log()).to.match(/scheduled to be closed ASAP for overcoming of output buffer limits/);

      for (const cache of [a, b]) {
        expect(cache.has('before'), 'cached before the drop: resynced away').to.equal(false);
        expect(cache.snapshot().link).to.equal('connected');
        expect(cache.stats()).to.include({ degradations: 1 });
        expect(cache.stats().resynced).to.deep.equal({ exact: 0, full: 1 });
        // Never delivered, so never decoded: not a rejected message (too-large or any other reason).
        expect(Object.values(cache.stats().messageRejected).reduce((sum, n) => sum + n, 0)).to.equal(0);
      }
      expect(rejected).to.deep.equal([]);
      // Nothing else broke: invalidations flow both ways on the same transports.
      b.set('k', 'v');
      const dropped = waitForEvent(b, 'remote invalidation', (event) => event.type === 'invalidated' && event.origin === 'remote' && event.scope === 'key' && event.key === 'k');
      await a.invalidate('k');
      await dropped;
      a.set('k2', 'v');
      const droppedBack = waitForEvent(a, 'remote invalidation', (event) => event.type === 'invalidated' && event.origin === 'remote' && event.scope === 'key' && event.key === 'k2');
      await b.invalidate('k2');
      await droppedBack;
      expect(await raw.ping()).to.equal('PONG');
    });
  });

  describe('sinon fake timers', () => {
    it('a synchronous tick() past heartbeatTimeout is no heartbeat timeout: no reply could be read inside it', async () => {
      // Faked before the transport exists, so its heartbeat interval and its clock are fake; promise jobs and I/O stay real.
      const clock = sinon.useFakeTimers({ now: Date.now(), toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
      try {
        const transport = redisTransport({ url: server.url, heartbeatInterval: 1_000, heartbeatTimeout: 2_000 });
        const cache = createCache<string>({ name: 'config', transport, degradedTtl: 60_000, metrics: false, tracing: false });
        closers.push(
          () => cache.close(),
          () => transport.close(),
        );
        await cache.ready();
        // Three heartbeats fire inside this one call: the third finds its ping 2 s old, but no reply could have been read.
        clock.tick(3_000);
        expect(transport.status).to.equal('connected');
        expect(cache.stats().degradations).to.equal(0);
      } finally {
        clock.restore();
      }
    });
  });

  describe('closed under a live cache', () => {
    it("degrades the cache at once (reason 'closed'), and a new cache on the closed transport is never ready (TransportClosedError)", async () => {
      const transport = redisTransport({ url: server.url, heartbeatInterval: 100, heartbeatTimeout: 300, publishTimeout: 300 });
      const cache = instance(transport);
      await cache.ready();
      const links: string[] = [];
      cache.on('link.changed', (event) => links.push(`${event.state}/${event.reason}`));
      const closing = transport.close();
      // Not once the connections are down (which may take publishTimeout): from the moment it stops listening.
      expect(transport.status).to.equal('closed');
      expect(links).to.deep.equal(['degraded/closed']);
      await closing;
      expect(transport.status).to.equal('closed');
      expect(cache.snapshot().link).to.equal('degraded');
      expect(await rejectionOf(cache.ready())).to.be.instanceOf(TransportClosedError);

      const late = instance(transport);
      expect(await rejectionOf(late.ready())).to.be.instanceOf(TransportClosedError);
      expect(late.snapshot().link).to.equal('degraded');
      expect(socketsTo(server.port), 'nothing reopened').to.equal(0);
    });
  });

  /** A cache on `transport` (retryInterval 60 s: a retry on the timer would come far too late for these tests). */
  function instance(transport: RedisTransport): Cache<string> {
    const cache = createCache<string>({ name: 'config', transport, retryInterval: 60_000, metrics: false });
    // The cache first (it flushes what it queued), then its transport.
    closers.push(async () => {
      await cache.close();
      await transport.close();
    });
    return cache;
  }
});
