/**
 * The diagnostics_channel projection, as an APM agent sees it: a TracingChannel
 * per load (the loader runs in the stores bound to its start) and per publish,
 * a channel per received message and per link change. Every payload is
 * serialized as it is published and searched for a value that went through
 * the cache; keys appear only when the caller opted in.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import dc from 'node:diagnostics_channel';
import { expect } from 'chai';
import sinon from 'sinon';
import { CacheOptionError, createCache, DIAGNOSTICS_CHANNELS, MemoryBus } from '../../src/index.ts';
import { diagnosticsChannels } from '../../src/telemetry/diagnostics.ts';

const VALUE = 'v4lue-SENTINEL-9137';
const KEY = 'user:4242';

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** Everything published on the cache's channels while `run` runs, each payload serialized when it was published. */
async function captured(run: () => Promise<void>): Promise<{ channel: string; payload: Record<string, unknown>; text: string }[]> {
  const seen: { channel: string; payload: Record<string, unknown>; text: string }[] = [];
  const record = (channel: string) => (message: unknown) => {
    const text = JSON.stringify(message);
    seen.push({ channel, payload: JSON.parse(text) as Record<string, unknown>, text });
  };
  const tracing = (name: string) => ({
    start: record(`${name}:start`),
    end: record(`${name}:end`),
    asyncStart: record(`${name}:asyncStart`),
    asyncEnd: record(`${name}:asyncEnd`),
    error: record(`${name}:error`),
  });
  const load = tracing('load');
  const publish = tracing('publish');
  const onMessage = record('message');
  const onLink = record('link');
  dc.tracingChannel(DIAGNOSTICS_CHANNELS.load).subscribe(load);
  dc.tracingChannel(DIAGNOSTICS_CHANNELS.publish).subscribe(publish);
  dc.subscribe(DIAGNOSTICS_CHANNELS.message, onMessage);
  dc.subscribe(DIAGNOSTICS_CHANNELS.link, onLink);
  try {
    await run();
  } finally {
    dc.tracingChannel(DIAGNOSTICS_CHANNELS.load).unsubscribe(load);
    dc.tracingChannel(DIAGNOSTICS_CHANNELS.publish).unsubscribe(publish);
    dc.unsubscribe(DIAGNOSTICS_CHANNELS.message, onMessage);
    dc.unsubscribe(DIAGNOSTICS_CHANNELS.link, onLink);
  }
  return seen;
}

describe('diagnostics_channel', () => {
  it('a subscriber sees a load start and end, a publish and a received message, with no value in any payload', async () => {
    const bus = new MemoryBus();
    const a = createCache<string>({ name: 'dc', transport: bus.transport(), metrics: false, tracing: false });
    const b = createCache<string>({ name: 'dc', transport: bus.transport(), metrics: false, tracing: false });
    const seen = await captured(async () => {
      await Promise.all([a.ready(), b.ready()]);
      expect(await a.get(KEY, () => Promise.resolve(VALUE))).to.equal(VALUE);
      expect(a.getSync('sync', () => VALUE)).to.equal(VALUE);
      await a.get('failing', () => Promise.reject(new RangeError(`cannot load ${VALUE}`))).catch(() => undefined);
      await a.invalidate(KEY);
      await settle();
    });
    await Promise.all([a.close(), b.close()]);

    const names = seen.map((s) => s.channel);
    expect(names.filter((n) => n.startsWith('load:'))).to.deep.equal([
      ...['load:start', 'load:end', 'load:asyncStart', 'load:asyncEnd'],
      ...['load:start', 'load:end'],
      ...['load:start', 'load:end', 'load:error', 'load:asyncStart', 'load:asyncEnd'],
    ]);
    expect(names.filter((n) => n.startsWith('publish:'))).to.deep.equal(['publish:start', 'publish:end', 'publish:asyncStart', 'publish:asyncEnd']);
    expect(names.filter((n) => n === 'message')).to.have.length(1);

    const loadEnd = seen.find((s) => s.channel === 'load:asyncEnd')?.payload;
    expect(loadEnd).to.include({ cache: 'dc', sync: false, outcome: 'ok', waiters: 1, servedStale: false });
    expect(loadEnd?.['durationMs']).to.be.a('number');
    expect(seen.find((s) => s.channel === 'load:error')?.payload).to.include({ cache: 'dc', outcome: 'error', errorName: 'RangeError' });
    expect(seen.find((s) => s.channel === 'publish:start')?.payload).to.deep.equal({ cache: 'dc', channel: 'coherent-cache:dc', transport: 'memory' });
    expect(seen.find((s) => s.channel === 'publish:asyncEnd')?.payload).to.include({ cache: 'dc', messages: 1, keyCount: 1, clear: false });
    const message = seen.find((s) => s.channel === 'message')?.payload;
    expect(message).to.include({ cache: 'dc', channel: 'coherent-cache:dc', transport: 'memory', format: 'v1', op: 'del', keys: 1 });
    expect((message?.['remote'] as { instance: string }).instance).to.equal(a.instanceId);
    expect(seen.some((s) => s.channel === 'link' && s.payload['cache'] === 'dc' && s.payload['state'] === 'connected')).to.equal(true);

    for (const { channel, text } of seen) {
      expect(text, channel).not.to.include(VALUE);
      expect(text, `${channel}: no key without opting in`).not.to.include(KEY);
    }
  });

  it('runs the loader in the stores an APM agent binds to the load start', async () => {
    const storage = new AsyncLocalStorage<string>();
    const start = dc.tracingChannel(DIAGNOSTICS_CHANNELS.load).start;
    start.bindStore(storage, (context) => `span of ${(context as { cache: string }).cache}`);
    const cache = createCache<string>({ name: 'apm', metrics: false, tracing: false });
    try {
      let inAsyncLoader: string | undefined;
      let inSyncLoader: string | undefined;
      await cache.get('k', async () => {
        await settle();
        inAsyncLoader = storage.getStore();
        return 'v';
      });
      cache.getSync('s', () => {
        inSyncLoader = storage.getStore();
        return 'v';
      });
      expect(inAsyncLoader).to.equal('span of apm');
      expect(inSyncLoader).to.equal('span of apm');
      expect(storage.getStore(), 'outside the loader').to.equal(undefined);
    } finally {
      start.unbindStore(storage);
      await cache.close();
    }
  });

  it('ends a timed-out load with LoadTimeoutError, and a loader that throws before its promise with start, error, end', async () => {
    const cache = createCache<string>({ name: 'late', loadTimeout: 5, metrics: false, tracing: false });
    let release: (value: string) => void = () => undefined;
    const seen = await captured(async () => {
      await cache.get('slow', () => new Promise<string>((resolve) => (release = resolve))).catch(() => undefined);
      release(VALUE);
      await settle();
      await cache
        .get('throws', () => {
          throw new TypeError(VALUE);
        })
        .catch(() => undefined);
    });
    await cache.close();
    const loads = seen.filter((s) => s.channel.startsWith('load:'));
    expect(loads.map((s) => s.channel)).to.deep.equal([
      ...['load:start', 'load:end', 'load:error', 'load:asyncStart', 'load:asyncEnd'],
      ...['load:start', 'load:error', 'load:end'],
    ]);
    expect(loads[2]?.payload).to.include({ outcome: 'timeout', errorName: 'LoadTimeoutError' });
    expect(loads[6]?.payload).to.include({ errorName: 'TypeError' });
    for (const { channel, text } of seen) expect(text, channel).not.to.include(VALUE);
  });

  it('puts keys in payloads only when opted in, through the sanitizer', async () => {
    const bus = new MemoryBus();
    const options = { name: 'keys', metrics: false, tracing: false, diagnostics: { recordKeys: (key: string) => key.split(':')[0] } } as const;
    const a = createCache<string>({ ...options, transport: bus.transport() });
    const seen = await captured(async () => {
      await a.ready();
      await a.get(KEY, () => VALUE);
      await a.invalidate(KEY);
    });
    await a.close();
    expect(seen.find((s) => s.channel === 'load:start')?.payload).to.include({ key: 'user' });
    expect(seen.find((s) => s.channel === 'publish:asyncEnd')?.payload['keys']).to.deep.equal(['user']);
    for (const { text } of seen) expect(text).not.to.include(KEY);
  });

  it('builds and publishes nothing while nobody subscribes, and nothing at all with diagnostics: false', async () => {
    const load = dc.tracingChannel(DIAGNOSTICS_CHANNELS.load);
    const publish = dc.tracingChannel(DIAGNOSTICS_CHANNELS.publish);
    const channels = [load.start, load.end, load.asyncStart, load.asyncEnd, load.error, publish.start, publish.end, publish.asyncStart, publish.asyncEnd, publish.error];
    const spies = [
      ...channels.flatMap((channel) => [sinon.spy(channel, 'publish'), sinon.spy(channel, 'runStores')]),
      sinon.spy(dc.channel(DIAGNOSTICS_CHANNELS.message), 'publish'),
      sinon.spy(dc.channel(DIAGNOSTICS_CHANNELS.link), 'publish'),
    ];
    try {
      const bus = new MemoryBus();
      const a = createCache<string>({ name: 'quiet', transport: bus.transport(), metrics: false, tracing: false });
      const b = createCache<string>({ name: 'quiet', transport: bus.transport(), metrics: false, tracing: false });
      await Promise.all([a.ready(), b.ready()]);
      await a.get('k', () => 'v');
      await a.invalidate('k');
      await settle();
      await Promise.all([a.close(), b.close()]);
      for (const spy of spies) expect(spy.callCount).to.equal(0);

      // Opted out: a subscriber hears nothing of this cache.
      const seen = await captured(async () => {
        const off = createCache<string>({ name: 'off', transport: bus.transport(), metrics: false, tracing: false, diagnostics: false });
        await off.ready();
        await off.get('k', () => 'v');
        await off.invalidate('k');
        await off.close();
      });
      expect(seen).to.deep.equal([]);
    } finally {
      for (const spy of spies) spy.restore();
    }
  });

  it('listens to no hit (hits stay on the inlined hot path) and to no value-carrying event', () => {
    const types: string[] = [];
    const hooks = diagnosticsChannels({ recordKeys: true }).attach({
      name: 'seen',
      on: (type) => {
        types.push(type);
        return () => undefined;
      },
    });
    expect(types).to.have.members(['load.started', 'loaded', 'load.timedout', 'published', 'publish.failed', 'message.received', 'link.changed']);
    hooks.detach();
  });

  it('refuses a diagnostics option that is neither false nor { recordKeys }, naming it', () => {
    for (const bad of [true, 'on', { recordKeys: 'yes' }, { keys: true }]) {
      expect(() => createCache({ name: 'bad', diagnostics: bad as never }), JSON.stringify(bad))
        .to.throw(CacheOptionError)
        .with.property('option', 'diagnostics');
    }
  });
});
