/**
 * The coherence contract over the in-memory transport: the cache-side logic
 * (coalescing, echo, retry queue, degraded mode, resync, hostile input,
 * signing, legacy format). The same contract against a real redis-server is in
 * redis-transport.test.ts.
 */
import { expect } from 'chai';
import sinon from 'sinon';
import { CacheKeyError, createCache, InvalidationTimeoutError, LEGACY_CHANNEL, MemoryBus, type Cache, type CacheEvent, type CacheOptions, type MemoryTransport } from '../../src/index.ts';
import { encodeMessage } from '../../src/protocol/writer.ts';
import { MAX_AWAITED_ECHO_LENGTH, MAX_AWAITED_ECHOES } from '../../src/coherence/echoes.ts';
import { rejectionOf } from '../support/rejection.ts';
import { waitForEvent } from '../support/wait-for-event.ts';
import type { PublishKind } from '../../src/transports/transport.ts';

/** Lets queued microtasks (coalescing, in-memory delivery) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** Whether a payload is a heartbeat (every cache sends them on its channel; these tests look at invalidations). */
function isBeat(payload: string): boolean {
  return payload.includes('"op":"beat"');
}

/** The calls of a `publish` spy that carried invalidations, not heartbeats. */
function invalidationCalls(publish: sinon.SinonSpy<[channel: string, payloads: readonly string[], kind?: PublishKind | undefined], Promise<void>>) {
  return publish.getCalls().filter((call) => !call.args[1].every(isBeat));
}

function events<V>(cache: Cache<V>): CacheEvent<V>[] {
  const seen: CacheEvent<V>[] = [];
  cache.subscribe((event) => seen.push(event));
  return seen;
}

describe('coherence over the in-memory transport', () => {
  let bus: MemoryBus;
  let caches: Cache<string>[];
  let transports: MemoryTransport[];

  beforeEach(() => {
    bus = new MemoryBus();
    caches = [];
    transports = [];
  });
  afterEach(async () => {
    await Promise.all(caches.map((cache) => cache.close()));
    await Promise.all(transports.map((transport) => transport.close()));
  });

  async function instance(options: Partial<CacheOptions> = {}, transport = bus.transport()): Promise<Cache<string>> {
    transports.push(transport);
    const cache = createCache<string>({ name: 'config', transport, ...options });
    caches.push(cache);
    await cache.ready();
    return cache;
  }

  it('an invalidation on one instance drops the entry on the others', async () => {
    const [a, b, c] = [await instance(), await instance(), await instance()];
    for (const cache of [a, b, c]) cache.set('k', 'v1');
    await a.invalidate('k');
    await settle();
    expect([a, b, c].map((cache) => cache.has('k'))).to.deep.equal([false, false, false]);
    expect(b.stats().invalidated.remote).to.deep.include({ key: 1, all: 0 });
    expect(a.stats().invalidated.remote).to.deep.include({ key: 0, all: 0 });
    const remote = b.recentEvents().find((e) => e.type === 'invalidated' && e.origin === 'remote');
    expect(remote).to.include({ key: 'k' });
    const source = remote?.type === 'invalidated' ? remote.remote : undefined;
    expect(source?.instance).to.equal(a.instanceId);
    expect(source?.sentAt).to.be.a('number').and.at.most(remote?.at ?? 0);
  });

  it('lists the live peers it heard (their heartbeats announce them), and forgets one not heard for 2 × degradedTtl', async () => {
    const clock = sinon.useFakeTimers({ now: 10_000 });
    try {
      const [a, b, c] = [await instance({ degradedTtl: 400 }), await instance({ degradedTtl: 400 }), await instance({ degradedTtl: 400 })];
      await clock.tickAsync(100);
      expect(a.peers().map((peer) => peer.instance)).to.have.members([b.instanceId, c.instanceId]);
      expect(a.stats().peers).to.equal(2);
      await c.close();
      await clock.tickAsync(1_000);
      expect(a.peers().map((peer) => peer.instance)).to.deep.equal([b.instanceId]);
    } finally {
      clock.restore();
    }
  });

  it('refuses a key no message could carry (CacheKeyError, nothing dropped or sent), and that bad key blocks no other', async () => {
    const transport = bus.transport();
    const publish = sinon.spy(transport, 'publish');
    const a = await instance({ messageLimits: { maxKeyLength: 8 } }, transport);
    const b = await instance({ messageLimits: { maxKeyLength: 8 } });
    a.set('too-long-key', 'v');
    b.set('good', 'v');
    const refused = await rejectionOf(a.invalidate('too-long-key'));
    expect(refused).to.be.instanceOf(CacheKeyError);
    expect(refused.message).to.include('maxKeyLength is 8');
    expect(a.has('too-long-key'), 'nothing happened').to.equal(true);
    await a.invalidate('good');
    await settle();
    expect(b.has('good')).to.equal(false);
    expect(invalidationCalls(publish).map((call) => JSON.parse(call.args[1][0] as string) as { keys: string[] }).map((m) => m.keys)).to.deep.equal([['good']]);
  });

  it('judges the lease against true time on every hit, even late in one long synchronous turn', async () => {
    const a = await instance({ degradedTtl: 100 });
    let loads = 0;
    const loader = () => `v${++loads}`;
    expect(await a.get('k', loader)).to.equal('v1');
    expect(a.getSync('k', loader)).to.equal('v1');
    // No timer fires and no heartbeat comes back inside this turn: only the clock says the lease ran out.
    const until = Date.now() + 150;
    while (Date.now() < until) {
      // busy
    }
    expect(a.getSync('k', loader), 'past the lease, the hit path reloads').to.equal('v2');
  });

  it('invalidateAll clears the peers', async () => {
    const [a, b] = [await instance(), await instance()];
    b.set('x', 'X');
    b.set('y', 'Y');
    await a.invalidateAll();
    await settle();
    expect(b.stats().size).to.equal(0);
    expect(b.stats().invalidated.remote.all).to.equal(1);
  });

  it('never processes its own messages (self-echo)', async () => {
    const a = await instance();
    const seen = events(a);
    await a.invalidate('k');
    await settle();
    expect(seen.filter((e) => e.type === 'invalidated').map((e) => e.type === 'invalidated' && e.origin)).to.deep.equal(['local']);
  });

  /** Whether `run` decoded a message: decoding checks its sentAt with Number.isFinite, nothing else on that path does. */
  async function decodes(run: () => unknown): Promise<boolean> {
    const isFinite = sinon.spy(Number, 'isFinite');
    try {
      await run();
      return isFinite.called;
    } finally {
      isFinite.restore();
    }
  }

  /** A cache on a transport that swallows what it publishes (no echo ever returns); `sent` collects the payloads. */
  async function silentInstance(): Promise<{ cache: Cache<string>; transport: MemoryTransport; sent: string[] }> {
    const transport = bus.transport();
    const sent: string[] = [];
    sinon.stub(transport, 'publish').callsFake((_channel, payloads) => {
      sent.push(...payloads.filter((payload) => !isBeat(payload)));
      return Promise.resolve();
    });
    return { cache: await instance({}, transport), transport, sent };
  }

  it('recognises its own echo by its exact payload, without decoding it', async () => {
    const { cache, transport, sent } = await silentInstance();
    const seen = events(cache);
    await cache.invalidate('k');
    const [payload] = sent as [string];
    // The same message spelled differently is not an exact echo: it is decoded, then skipped by its origin.
    const respelled = JSON.stringify(JSON.parse(payload), null, 1);
    expect(await decodes(() => transport.receive('coherent-cache:config', payload, undefined))).to.equal(false);
    expect(await decodes(() => transport.receive('coherent-cache:config', respelled, undefined))).to.equal(true);
    expect(seen.filter((e) => e.type === 'invalidated' && e.origin === 'remote')).to.deep.equal([]);
  });

  it('awaits its echo from the moment it publishes, so a transport that delivers right after the call is not decoded', async () => {
    const a = await instance();
    // The in-memory bus delivers in the promise job after publish(): before the publish's own promise settles.
    expect(
      await decodes(async () => {
        await a.invalidate('k');
        await settle();
      }),
    ).to.equal(false);
  });

  it('does not remember payloads longer than MAX_AWAITED_ECHO_LENGTH: their echo is decoded, then skipped', async () => {
    const { cache, transport, sent } = await silentInstance();
    const seen = events(cache);
    await cache.invalidate('x'.repeat(MAX_AWAITED_ECHO_LENGTH));
    await cache.invalidate('short');
    const [long, short] = sent as [string, string];
    expect(long.length).to.be.above(MAX_AWAITED_ECHO_LENGTH);
    expect(await decodes(() => transport.receive('coherent-cache:config', long, undefined))).to.equal(true);
    expect(await decodes(() => transport.receive('coherent-cache:config', short, undefined))).to.equal(false);
    expect(seen.filter((e) => e.type === 'invalidated' && e.origin === 'remote')).to.deep.equal([]);
  });

  it('forgets echoes that never come back, oldest first, past MAX_AWAITED_ECHOES', async () => {
    const { cache, transport, sent } = await silentInstance();
    const seen = events(cache);
    for (let i = 0; i <= MAX_AWAITED_ECHOES; i++) await cache.invalidate(`k${i}`);
    expect(await decodes(() => transport.receive('coherent-cache:config', sent[sent.length - 1] as string, undefined)), 'the newest is still awaited').to.equal(false);
    expect(await decodes(() => transport.receive('coherent-cache:config', sent[0] as string, undefined)), 'the oldest was forgotten, so it is decoded').to.equal(true);
    // Either way it is this instance's own message: nothing is dropped for it.
    expect(seen.filter((e) => e.type === 'invalidated' && e.origin === 'remote')).to.deep.equal([]);
  });

  it('coalesces the invalidations of one tick into one message', async () => {
    const transport = bus.transport();
    const publish = sinon.spy(transport, 'publish');
    const a = await instance({}, transport);
    const b = await instance();
    for (const key of ['a', 'b', 'c']) b.set(key, key);
    await Promise.all([a.invalidate('a'), a.invalidate('b'), a.invalidate('c'), a.invalidate('a')]);
    await settle();
    const calls = invalidationCalls(publish);
    expect(calls).to.have.length(1);
    const [channel, payloads] = calls[0]!.args;
    expect(channel).to.equal('coherent-cache:config');
    expect(payloads).to.have.length(1);
    expect(JSON.parse(payloads[0]!)).to.include({ op: 'del', cache: 'config' }).and.to.have.property('keys').that.deep.equals(['a', 'b', 'c']);
    expect(b.stats().size).to.equal(0);
    expect(a.stats().published).to.deep.equal({ messages: 1, keys: 3 });
  });

  it('splits a batch that exceeds the per-message key limit', async () => {
    const transport = bus.transport();
    const publish = sinon.spy(transport, 'publish');
    const a = await instance({ messageLimits: { maxKeysPerMessage: 2 } }, transport);
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((key) => a.invalidate(key)));
    expect(invalidationCalls(publish)[0]?.args[1]).to.have.length(3);
  });

  it('uses the channel prefix and ignores other caches on a shared transport', async () => {
    const shared = bus.transport();
    const config = await instance({ channelPrefix: 'app:' }, shared);
    const flags = await instance({ name: 'flags', channelPrefix: 'app:' }, shared);
    flags.set('k', 'flag');
    await config.invalidate('k');
    await settle();
    expect(flags.has('k')).to.equal(true);
  });

  it('rejects and counts hostile messages without throwing', async () => {
    const a = await instance();
    const attacker = bus.transport();
    transports.push(attacker);
    const hostile = [
      'not json',
      '[]',
      '{"v":1,"cache":"config","op":"del","keys":[1],"origin":"x","sentAt":1}',
      JSON.stringify({ v: 1, cache: 'config', op: 'del', keys: ['x'.repeat(2_000)], origin: 'x', sentAt: 1 }),
      '{"v":2,"cache":"config","op":"clear","origin":"x","sentAt":1}',
      JSON.stringify({ v: 1, cache: 'config', op: 'del', keys: Array.from({ length: 60_000 }, (_, i) => `key-${i}`), origin: 'x', sentAt: 1 }),
      '{"v":1,"cache":"config","op":"clear","origin":"x","sentAt":1,"__proto__":{"polluted":true}}',
      encodeMessage({ v: 1, cache: 'other', op: 'clear', origin: 'x', sentAt: 1 }),
    ];
    a.set('k', 'v');
    await attacker.publish('coherent-cache:config', hostile);
    await settle();
    expect(a.has('k')).to.equal(true);
    expect(a.stats().messageRejected).to.include({ 'not-json': 1, 'bad-shape': 3, 'bad-key': 1, 'unknown-version': 1, 'too-large': 1, 'other-cache': 1 });
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  });

  describe('with a shared secret', () => {
    it('accepts signed messages and rejects unsigned or forged ones', async () => {
      const a = await instance({ secret: 's3cret' });
      const b = await instance({ secret: 's3cret' });
      const forger = await instance({ secret: 'wrong' });
      const unsigned = await instance();
      b.set('k', 'v');
      await settle();
      // Their heartbeats are refused too: count only what the invalidations add.
      const before = b.stats().messageRejected;
      await forger.invalidate('k');
      await unsigned.invalidate('k');
      await settle();
      expect(b.has('k')).to.equal(true);
      const after = b.stats().messageRejected;
      expect({ forged: after['bad-signature'] - before['bad-signature'], unsigned: after.unsigned - before.unsigned }).to.deep.equal({ forged: 1, unsigned: 1 });
      await a.invalidate('k');
      await settle();
      expect(b.has('k')).to.equal(false);
    });
  });

  describe('the legacy format', () => {
    it('receives { slotId, _origin } and "*" from an old process', async () => {
      const a = await instance({ legacyChannel: LEGACY_CHANNEL });
      const old = bus.transport();
      transports.push(old);
      a.set('compat:deepseek', 'v');
      a.set('other', 'v');
      await old.publish(LEGACY_CHANNEL, [JSON.stringify({ slotId: 'compat:deepseek', _origin: 'inst_old' })]);
      await settle();
      expect(a.has('compat:deepseek')).to.equal(false);
      expect(a.has('other')).to.equal(true);
      await old.publish(LEGACY_CHANNEL, [JSON.stringify({ slotId: '*', _origin: 'inst_old' })]);
      await settle();
      expect(a.has('other')).to.equal(false);
    });

    it('publishes the legacy payload so old processes hear new ones', async () => {
      const a = await instance({ legacyChannel: LEGACY_CHANNEL });
      const old = bus.transport();
      transports.push(old);
      const heard: string[] = [];
      await old.subscribe(LEGACY_CHANNEL, (payload) => heard.push(payload));
      await a.invalidate('compat:deepseek');
      await a.invalidateAll();
      await settle();
      expect(heard.map((p) => JSON.parse(p) as unknown)).to.deep.equal([
        { slotId: 'compat:deepseek', _origin: a.instanceId },
        { slotId: '*', _origin: a.instanceId },
      ]);
    });

    it('two new instances that both speak legacy count each invalidation once', async () => {
      const a = await instance({ legacyChannel: LEGACY_CHANNEL, beatInterval: 10 });
      const b = await instance({ legacyChannel: LEGACY_CHANNEL, beatInterval: 10 });
      // b knows a speaks v1 once it heard a heartbeat of a's.
      await waitForEvent(b, "a's heartbeat", (e) => e.type === 'peer.heard' && e.instance === a.instanceId);
      b.set('k', 'v');
      await a.invalidate('k');
      await settle();
      expect(b.has('k')).to.equal(false);
      expect(b.stats().invalidated.remote).to.deep.include({ key: 1, all: 0 });
    });
  });

  it('a remote invalidation fences a load in flight', async () => {
    const [a, b] = [await instance(), await instance()];
    const held = Promise.withResolvers<string>();
    const pending = b.get('k', () => held.promise);
    await a.invalidate('k');
    await settle();
    held.resolve('old');
    expect(await pending).to.equal('old');
    expect(b.has('k')).to.equal(false);
    expect(b.stats().loadDiscarded).to.equal(1);
  });

  it('a read on a peer that begins after the invalidation arrived never joins the load that began before it', async () => {
    const [a, b] = [await instance(), await instance()];
    const held = Promise.withResolvers<string>();
    const before = b.get('k', () => held.promise);
    await a.invalidate('k');
    await settle();
    const after = b.get('k', () => 'new');
    held.resolve('old');
    expect(await before).to.equal('old');
    expect(await after).to.equal('new');
  });

  describe('faults', () => {
    let clock: sinon.SinonFakeTimers;
    beforeEach(() => {
      // sinon's defaults, queueMicrotask included: a test author's usual setup must not stall coalescing or delivery.
      clock = sinon.useFakeTimers({ now: 0 });
    });
    afterEach(() => clock.restore());

    it('starts degraded and connects once subscribed', async () => {
      const transport = bus.transport();
      transports.push(transport);
      const cache = createCache<string>({ name: 'config', transport });
      caches.push(cache);
      expect(cache.snapshot().link).to.equal('degraded');
      await cache.ready();
      expect(cache.snapshot().link).to.equal('connected');
      expect(cache.stats().degradations).to.equal(0);
    });

    it('while degraded, entries live at most degradedTtl; on reconnect everything cached before is dropped', async () => {
      const transport = bus.transport();
      const b = await instance({ ttl: 60_000, degradedTtl: 1_000 }, transport);
      b.set('before', 'v');
      transport.disconnect();
      expect(b.snapshot().link).to.equal('degraded');
      b.set('during', 'v');
      clock.tick(999);
      expect(b.has('before') && b.has('during')).to.equal(true);
      clock.tick(1);
      expect(b.has('before') || b.has('during')).to.equal(false);
      b.set('late', 'v');
      transport.reconnect();
      expect(b.snapshot().link).to.equal('connected');
      expect(b.has('late')).to.equal(false);
      const resync = b.recentEvents().find((e) => e.type === 'invalidated' && e.reason === 'resync');
      expect(resync).to.include({ scope: 'all', origin: 'local' });
      expect(b.stats()).to.include({ degradations: 1 });
      expect(b.stats().resynced).to.deep.equal({ exact: 0, full: 1 });
      // Connected again: the normal ttl applies, under a lease its heartbeats keep renewing (their echoes need promise jobs: tickAsync).
      b.set('after', 'v');
      await clock.tickAsync(30_000);
      expect(b.has('after')).to.equal(true);
    });

    it('a synchronous tick past the lease stops serving at once, degrades, and recovers without a resync once a heartbeat comes back', async () => {
      const b = await instance({ ttl: 60_000, degradedTtl: 1_000 });
      b.set('k', 'v');
      // No promise job runs inside tick(): no heartbeat echo can renew the lease.
      clock.tick(1_000);
      expect(b.has('k'), 'past the lease, nothing is served').to.equal(false);
      expect(b.snapshot().link).to.equal('degraded');
      expect(b.recentEvents().findLast((e) => e.type === 'link.changed' && e.state === 'degraded')).to.include({ reason: 'lease-expired' });
      await clock.tickAsync(300);
      expect(b.snapshot().link, 'the next heartbeat renewed it').to.equal('connected');
      expect(b.stats().resynced, 'a lapse loses no message: no resync').to.deep.equal({ exact: 0, full: 0 });
    });

    it('a failed publish drops locally at once, queues the key and sends it on reconnect', async () => {
      const transport = bus.transport();
      const a = await instance({}, transport);
      const b = await instance();
      b.set('k', 'v');
      a.set('k', 'v');
      transport.disconnect();
      // invalidate() resolves once its message was accepted: here, only after the reconnect.
      let acked = false;
      const invalidated = a.invalidate('k').then(() => (acked = true));
      await settle();
      expect(a.has('k')).to.equal(false);
      expect(b.has('k')).to.equal(true);
      expect(a.stats().publishFailed).to.equal(1);
      expect(a.stats().publishQueueDepth).to.equal(1);
      expect(acked).to.equal(false);
      transport.reconnect();
      await invalidated;
      await settle();
      expect(b.has('k')).to.equal(false);
      expect(a.stats().publishQueueDepth).to.equal(0);
    });

    it('invalidate() rejects with InvalidationTimeoutError when its message is not accepted within invalidateTimeout; the key stays queued', async () => {
      const transport = bus.transport();
      const a = await instance({ invalidateTimeout: 300 }, transport);
      const b = await instance();
      b.set('k', 'v');
      transport.disconnect();
      const invalidated = a.invalidate('k');
      const failure = invalidated.then(
        () => undefined,
        (error: unknown) => error,
      );
      await clock.tickAsync(300);
      expect(await failure).to.be.instanceOf(InvalidationTimeoutError).and.deep.include({ keys: ['k'], clear: false, timeoutMs: 300 });
      expect(a.stats().publishQueueDepth).to.equal(1);
      transport.reconnect();
      await settle();
      expect(b.has('k'), 'still delivered once it can be').to.equal(false);
    });

    it('retries the queue on a timer when the link is up but publishing failed', async () => {
      const transport = bus.transport();
      const a = await instance({ retryInterval: 500 }, transport);
      const b = await instance();
      b.set('k', 'v');
      const publish = sinon.stub(transport, 'publish').rejects(new Error('broken pipe'));
      const invalidated = a.invalidate('k');
      await settle();
      expect(b.has('k')).to.equal(true);
      publish.restore();
      clock.tick(500);
      await invalidated;
      await settle();
      expect(b.has('k')).to.equal(false);
    });

    it('overflow of the retry queue becomes one clear instead of losing keys', async () => {
      const transport = bus.transport();
      const a = await instance({ maxQueuedKeys: 2 }, transport);
      const b = await instance();
      for (const key of ['x', 'y', 'z', 'untouched']) b.set(key, key);
      transport.disconnect();
      const invalidated = ['x', 'y', 'z'].map((key) => a.invalidate(key));
      for (let i = 0; i < 3; i++) await settle();
      expect(a.stats().publishOverflowed).to.equal(1);
      // One clear waits in place of the keys.
      expect(a.stats().publishQueueDepth).to.equal(1);
      transport.reconnect();
      await Promise.all(invalidated);
      await settle();
      expect(b.stats().size).to.equal(0);
      expect(b.stats().invalidated.remote.all).to.equal(1);
    });
  });
});
