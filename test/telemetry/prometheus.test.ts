/**
 * The prom-client bridge, read back the way Prometheus reads it: the registry's
 * text is checked by `promtool check metrics` (the Prometheus project's own
 * parser and linter) and parsed with prom2javascript, then names, types, help,
 * labels and values are compared with the catalogue and with a known sequence
 * of operations.
 */
import { expect } from 'chai';
import type { PromHistogramData, PromMetrics } from 'prom2javascript';
import { Counter, register as globalRegistry, Registry } from 'prom-client';
import sinon from 'sinon';
import { createCache, MemoryBus, METRICS, type Cache, type CacheEvent } from '../../src/index.ts';
import { registerPrometheus } from '../../src/telemetry/prometheus.ts';
import { allLabelValues, histogramOf, parseExposition, valueOf } from '../support/exposition.ts';
import { rejectionOf } from '../support/rejection.ts';
import { waitForEvent } from '../support/wait-for-event.ts';

async function scrape(registry: Registry): Promise<PromMetrics> {
  return parseExposition(await registry.metrics());
}

function isRemote(event: CacheEvent<string>): boolean {
  return event.type === 'invalidated' && event.origin === 'remote';
}

describe('prom-client bridge', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    // Microtasks stay real: the in-memory bus delivers on one, and the tests wait for the events it causes.
    clock = sinon.useFakeTimers({ now: 1_000_000, toNotFake: ['queueMicrotask', 'nextTick'] });
  });
  afterEach(() => clock.restore());

  it('exposes every catalogue metric under its prometheusName, type, help and labels', async () => {
    const registry = new Registry();
    const cache = createCache<string>({ name: 'catalogue', metrics: false, tracing: false });
    const unregister = registerPrometheus(cache, { registry });
    const metrics = await scrape(registry);
    expect(Object.keys(metrics).sort()).to.deep.equal(METRICS.map((m) => m.prometheusName).sort());
    for (const metric of METRICS) {
      const exposed = metrics[metric.prometheusName];
      expect(exposed?.type, metric.prometheusName).to.equal(metric.kind);
      expect(exposed?.help, metric.prometheusName).to.equal(metric.description);
      const labelSets = (exposed?.data ?? []).map((point) => Object.keys(point.labels).sort());
      expect(labelSets.length, metric.prometheusName).to.be.greaterThan(0);
      for (const labels of labelSets) expect(labels, metric.prometheusName).to.deep.equal(['cache', ...metric.labels].sort());
      if (metric.kind === 'histogram') {
        for (const histogram of exposed?.data as PromHistogramData[]) {
          const bounds = Object.keys(histogram.buckets).map((le) => (le === '+Inf' ? Infinity : Number(le)));
          expect(bounds.sort((x, y) => x - y)).to.deep.equal([...metric.buckets, Infinity]);
        }
      }
    }
    unregister();
  });

  it('reports a known sequence of operations', async () => {
    const registry = new Registry();
    const bus = new MemoryBus();
    const link = bus.transport();
    const cache = createCache<string>({ name: 'orders', ttl: 1_000, maxEntries: 3, loadTimeout: 100, transport: link, metrics: false, tracing: false });
    const peer = createCache<string>({ name: 'orders', transport: bus.transport(), metrics: false, tracing: false });
    await Promise.all([cache.ready(), peer.ready()]);
    const unregister = registerPrometheus(cache, { registry });

    // Loads: ok after 30 ms, ok at once (getSync), an error, a timeout whose loader never ends.
    const slow = cache.get('a', () => new Promise<string>((resolve) => setTimeout(() => resolve('A'), 30)));
    await clock.tickAsync(30);
    expect(await slow).to.equal('A');
    expect(await cache.get('a', () => 'unused')).to.equal('A'); // hit
    expect(cache.getSync('b', () => 'B')).to.equal('B');
    expect((await rejectionOf(cache.get('bad', () => Promise.reject(new Error('source down'))))).message).to.equal('source down');
    const hung = rejectionOf(cache.get('hung', () => new Promise<string>(() => undefined)));
    await clock.tickAsync(100);
    expect((await hung).name).to.equal('LoadTimeoutError');
    // Misses by reason: expired, invalidated (after a local invalidation, which is also published).
    cache.set('short', 'S', { ttl: 50 });
    await clock.tickAsync(60);
    expect(await cache.get('short', () => 'S2')).to.equal('S2'); // miss expired (+ expired entry dropped)
    await cache.invalidate('a');
    expect(await cache.get('a', () => 'A2')).to.equal('A2'); // miss invalidated
    // A remote invalidation, then a rejected message.
    const remote = waitForEvent(cache, 'a remote invalidation', isRemote);
    await peer.invalidate('b');
    await remote;
    const rejected = waitForEvent(cache, 'a rejected message', (e) => e.type === 'message.rejected');
    await bus.transport().publish('coherent-cache:orders', ['not json']);
    await rejected;

    let metrics = await scrape(registry);
    const labels = { cache: 'orders' };
    expect(valueOf(metrics, 'coherent_cache_requests_total', { ...labels, result: 'hit', reason: 'fresh' })).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_requests_total', { ...labels, result: 'miss', reason: 'absent' })).to.equal(4); // a, b, bad, hung
    expect(valueOf(metrics, 'coherent_cache_requests_total', { ...labels, result: 'miss', reason: 'expired' })).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_requests_total', { ...labels, result: 'miss', reason: 'invalidated' })).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_loads_total', { ...labels, outcome: 'ok' })).to.equal(4); // a, b, short, a again
    expect(valueOf(metrics, 'coherent_cache_loads_total', { ...labels, outcome: 'error' })).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_loads_total', { ...labels, outcome: 'timeout' })).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_loads_in_flight', labels)).to.equal(1); // the hung loader still runs
    expect(valueOf(metrics, 'coherent_cache_stored_total', { ...labels, source: 'load' })).to.equal(4);
    expect(valueOf(metrics, 'coherent_cache_stored_total', { ...labels, source: 'set' })).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_expired_total', labels)).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_invalidated_total', { ...labels, origin: 'local', scope: 'key' })).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_invalidated_total', { ...labels, origin: 'remote', scope: 'key' })).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_invalidated_total', { ...labels, origin: 'local', scope: 'all' })).to.equal(0);
    expect(valueOf(metrics, 'coherent_cache_published_messages_total', labels)).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_message_rejected_total', { ...labels, reason: 'not-json' })).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_message_rejected_total', { ...labels, reason: 'bad-signature' })).to.equal(0);
    expect(valueOf(metrics, 'coherent_cache_entries', labels)).to.equal(2); // a, short (b was invalidated remotely)
    expect(valueOf(metrics, 'coherent_cache_link_degraded', labels)).to.equal(0);
    const okLoads = histogramOf(metrics, 'coherent_cache_load_duration', { ...labels, outcome: 'ok' });
    // 30 ms for the first load, 0 ms for the three synchronous ones (fake time does not move inside them).
    expect(okLoads?.count).to.equal(4);
    expect(okLoads?.sum).to.be.closeTo(0.03, 1e-9);
    expect(okLoads?.buckets['0.001']).to.equal(3);
    expect(okLoads?.buckets['0.025']).to.equal(3);
    expect(okLoads?.buckets['0.05']).to.equal(4);
    expect(okLoads?.buckets['+Inf']).to.equal(4);
    expect(histogramOf(metrics, 'coherent_cache_load_duration', { ...labels, outcome: 'error' })?.count).to.equal(1);
    const lag = histogramOf(metrics, 'coherent_cache_propagation_lag', labels);
    expect(lag?.count).to.equal(1);
    expect(lag?.buckets['0.0005']).to.equal(1);

    // Losing the link: a degradation, a failed publish queued for retry; coming back: a full resync (this bus keeps
    // no log, so nothing says what the gap missed), the queued key sent.
    link.disconnect();
    // invalidate() resolves once its message is accepted: here, after the reconnect below.
    const failedOnce = waitForEvent(cache, 'the failed publish', (e) => e.type === 'publish.failed');
    const queued = cache.invalidate('short');
    await failedOnce;
    metrics = await scrape(registry);
    expect(valueOf(metrics, 'coherent_cache_link_degraded', labels)).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_link_degradations_total', labels)).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_publish_failed_total', labels)).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_publish_queue_depth', labels)).to.equal(1);
    const resynced = waitForEvent(cache, 'a full resync', (e) => e.type === 'resynced' && e.mode === 'full' && e.cause === 'no-log');
    const republished = waitForEvent(cache, 'the queued key published', (e) => e.type === 'published');
    link.reconnect();
    await Promise.all([resynced, republished, queued]);
    // Eviction: a fourth value in a cache of three pushes out the least recently used.
    for (const key of ['e1', 'e2', 'e3', 'e4']) cache.set(key, key);

    metrics = await scrape(registry);
    expect(valueOf(metrics, 'coherent_cache_link_degraded', labels)).to.equal(0);
    expect(valueOf(metrics, 'coherent_cache_resynced_total', { ...labels, mode: 'full' })).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_resynced_total', { ...labels, mode: 'exact' })).to.equal(0);
    expect(valueOf(metrics, 'coherent_cache_resynced_dropped_total', { ...labels, mode: 'full' })).to.equal(1); // a ('short' was invalidated while the link was down)
    expect(valueOf(metrics, 'coherent_cache_resynced_dropped_total', { ...labels, mode: 'exact' })).to.equal(0);
    expect(valueOf(metrics, 'coherent_cache_repair_failed_total', labels)).to.equal(0);
    expect(valueOf(metrics, 'coherent_cache_invalidated_total', { ...labels, origin: 'local', scope: 'all' })).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_invalidated_total', { ...labels, origin: 'local', scope: 'key' })).to.equal(2);
    expect(valueOf(metrics, 'coherent_cache_publish_queue_depth', labels)).to.equal(0);
    expect(valueOf(metrics, 'coherent_cache_published_messages_total', labels)).to.equal(2);
    expect(valueOf(metrics, 'coherent_cache_evicted_total', { ...labels, reason: 'capacity' })).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_entries', labels)).to.equal(3);
    expect(valueOf(metrics, 'coherent_cache_stored_total', { ...labels, source: 'set' })).to.equal(5);

    unregister();
    await Promise.all([cache.close(), peer.close()]);
  });

  it('tells gap repairs apart: the full resync at start, an exact one, a failed log read, a full one after a log reset', async () => {
    const registry = new Registry();
    const bus = new MemoryBus({ log: true });
    const link = bus.transport();
    const log = link.log as NonNullable<typeof link.log>;
    const repaired = (mode: 'exact' | 'full', cause?: string) => waitForEvent(cache, `a ${mode} resync`, (e) => e.type === 'resynced' && e.mode === mode && e.cause === cause);
    const cache = createCache<string>({ name: 'orders', transport: link, metrics: false, tracing: false });
    const peer = createCache<string>({ name: 'orders', transport: bus.transport(), metrics: false, tracing: false });
    const unregister = registerPrometheus(cache, { registry });
    const labels = { cache: 'orders' };
    const figures = async () => {
      const metrics = await scrape(registry);
      const read = (name: string, mode: string) => valueOf(metrics, name, { ...labels, mode });
      return {
        resynced: { exact: read('coherent_cache_resynced_total', 'exact'), full: read('coherent_cache_resynced_total', 'full') },
        dropped: { exact: read('coherent_cache_resynced_dropped_total', 'exact'), full: read('coherent_cache_resynced_dropped_total', 'full') },
        repairFailed: valueOf(metrics, 'coherent_cache_repair_failed_total', labels),
      };
    };

    // Every start with a log: one full resync that drops nothing (where the log stands is not known yet).
    const started = repaired('full', 'starting');
    await Promise.all([cache.ready(), peer.ready(), started]);
    expect(await figures()).to.deep.equal({ resynced: { exact: 0, full: 1 }, dropped: { exact: 0, full: 0 }, repairFailed: 0 });

    // A gap in which a peer invalidated x: the log covers it, only x goes.
    for (const key of ['x', 'y', 'z']) cache.set(key, key.toUpperCase());
    link.disconnect();
    await peer.invalidate('x');
    // The first read of the log fails; the next heartbeat's read repairs the gap.
    const read = sinon.stub(log, 'read').callThrough();
    read.onFirstCall().rejects(new Error('NOPERM'));
    const failed = waitForEvent(cache, 'a failed repair', (e) => e.type === 'repair.failed');
    const exact = repaired('exact');
    link.reconnect();
    await failed;
    expect((await figures()).repairFailed).to.equal(1);
    await clock.tickAsync(1_000);
    await exact;
    read.restore();
    expect(['x', 'y', 'z'].map((key) => cache.peek(key))).to.deep.equal([undefined, 'Y', 'Z']);
    expect(await figures()).to.deep.equal({ resynced: { exact: 1, full: 1 }, dropped: { exact: 1, full: 0 }, repairFailed: 1 });

    // The server lost its log (a restart without persistence): the next gap cannot be repaired exactly, y and z go.
    link.disconnect();
    bus.resetLogs();
    const full = repaired('full', 'log-reset');
    link.reconnect();
    await full;
    expect(await figures()).to.deep.equal({ resynced: { exact: 1, full: 2 }, dropped: { exact: 1, full: 2 }, repairFailed: 1 });

    unregister();
    await Promise.all([cache.close(), peer.close()]);
  });

  it('serves several caches from one registry, and unregistering one removes only its series', async () => {
    const registry = new Registry();
    const alpha = createCache<string>({ name: 'alpha', metrics: false, tracing: false });
    const beta = createCache<string>({ name: 'beta', metrics: false, tracing: false });
    const stopAlpha = registerPrometheus(alpha, { registry });
    const stopBeta = registerPrometheus(beta, { registry });
    await alpha.get('k', () => 'v');
    await alpha.get('k', () => 'v');
    await beta.get('k', () => 'v');

    let metrics = await scrape(registry);
    expect(valueOf(metrics, 'coherent_cache_requests_total', { cache: 'alpha', result: 'hit', reason: 'fresh' })).to.equal(1);
    expect(valueOf(metrics, 'coherent_cache_requests_total', { cache: 'beta', result: 'hit', reason: 'fresh' })).to.equal(0);
    expect(histogramOf(metrics, 'coherent_cache_load_duration', { cache: 'beta', outcome: 'ok' })?.count).to.equal(1);
    const caches = (name: string) => [...new Set(metrics[name]?.data.map((point) => point.labels['cache']))].sort();
    for (const metric of METRICS) expect(caches(metric.prometheusName), metric.prometheusName).to.deep.equal(['alpha', 'beta']);

    stopAlpha();
    stopAlpha(); // idempotent
    metrics = await scrape(registry);
    for (const metric of METRICS) expect(caches(metric.prometheusName), metric.prometheusName).to.deep.equal(['beta']);
    await alpha.get('other', () => 'v'); // no longer observed
    expect(histogramOf(await scrape(registry), 'coherent_cache_load_duration', { cache: 'alpha', outcome: 'ok' })).to.equal(undefined);

    stopBeta();
    expect(registry.getMetricsAsArray()).to.deep.equal([]);
    // And back again.
    const stopAgain = registerPrometheus(alpha, { registry });
    expect(valueOf(await scrape(registry), 'coherent_cache_requests_total', { cache: 'alpha', result: 'hit', reason: 'fresh' })).to.equal(1);
    stopAgain();
  });

  it('closing a cache removes its series', async () => {
    const registry = new Registry();
    const alpha = createCache<string>({ name: 'alpha', metrics: false, tracing: false });
    const beta = createCache<string>({ name: 'beta', metrics: false, tracing: false });
    registerPrometheus(alpha, { registry });
    const stopBeta = registerPrometheus(beta, { registry });
    await alpha.close();
    const metrics = await scrape(registry);
    const caches = [...new Set(metrics['coherent_cache_requests_total']?.data.map((point) => point.labels['cache']))];
    expect(caches).to.deep.equal(['beta']);
    stopBeta();
    await beta.close();
  });

  it('adds up two caches of the same name, and keeps the series while one of them is registered', async () => {
    const registry = new Registry();
    const one = createCache<string>({ name: 'twin', metrics: false, tracing: false });
    const two = createCache<string>({ name: 'twin', metrics: false, tracing: false });
    const stopOne = registerPrometheus(one, { registry });
    await one.get('k', () => 'v');
    const stopTwo = registerPrometheus(two, { registry });
    await two.get('k', () => 'v');
    let metrics = await scrape(registry);
    expect(valueOf(metrics, 'coherent_cache_loads_total', { cache: 'twin', outcome: 'ok' })).to.equal(2);
    expect(valueOf(metrics, 'coherent_cache_entries', { cache: 'twin' })).to.equal(2);
    expect(histogramOf(metrics, 'coherent_cache_load_duration', { cache: 'twin', outcome: 'ok' })?.count).to.equal(2);
    stopOne();
    metrics = await scrape(registry);
    expect(valueOf(metrics, 'coherent_cache_loads_total', { cache: 'twin', outcome: 'ok' })).to.equal(1);
    expect(histogramOf(metrics, 'coherent_cache_load_duration', { cache: 'twin', outcome: 'ok' })?.count).to.equal(2);
    stopTwo();
  });

  it('refuses a registry that already has another metric of a catalogue name, and leaves nothing behind', () => {
    const registry = new Registry();
    new Counter({ name: 'coherent_cache_resynced_total', help: 'someone else', registers: [registry] });
    const cache = createCache<string>({ name: 'clash', metrics: false, tracing: false });
    expect(() => registerPrometheus(cache, { registry })).to.throw(/coherent_cache_resynced_total/);
    expect(registry.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name)).to.deep.equal(['coherent_cache_resynced_total']);
    registry.removeSingleMetric('coherent_cache_resynced_total');
    registerPrometheus(cache, { registry })();
  });

  it("registers on prom-client's global registry by default, and again after it was cleared", async () => {
    const cache = createCache<string>({ name: 'global', metrics: false, tracing: false });
    const stop = registerPrometheus(cache);
    cache.set('k', 'v');
    expect(valueOf(await scrape(globalRegistry), 'coherent_cache_entries', { cache: 'global' })).to.equal(1);
    globalRegistry.clear();
    const other = createCache<string>({ name: 'other', metrics: false, tracing: false });
    const stopOther = registerPrometheus(other);
    expect(valueOf(await scrape(globalRegistry), 'coherent_cache_entries', { cache: 'global' })).to.equal(1);
    stopOther();
    stop();
    expect(globalRegistry.getMetricsAsArray()).to.deep.equal([]);
  });

  it('reads fresh figures at every scrape, even with every timer faked (queueMicrotask included)', async () => {
    clock.restore();
    clock = sinon.useFakeTimers({ now: 1_000_000 });
    const registry = new Registry();
    const cache = createCache<string>({ name: 'fresh', metrics: false, tracing: false });
    const stop = registerPrometheus(cache, { registry });
    cache.set('k', 'v');
    expect(valueOf(await scrape(registry), 'coherent_cache_entries', { cache: 'fresh' })).to.equal(1);
    cache.set('k2', 'v');
    expect(valueOf(await scrape(registry), 'coherent_cache_entries', { cache: 'fresh' })).to.equal(2);
    stop();
  });

  it('never turns a key into a label', async () => {
    const registry = new Registry();
    const bus = new MemoryBus();
    const cache = createCache<string>({ name: 'keys', transport: bus.transport(), metrics: false, tracing: false });
    const peer: Cache<string> = createCache<string>({ name: 'keys', transport: bus.transport(), metrics: false, tracing: false });
    await Promise.all([cache.ready(), peer.ready()]);
    const stop = registerPrometheus(cache, { registry });
    await cache.get('user:4242', () => 'v');
    await cache.get('user:4242', () => 'v');
    await cache.invalidate('user:4242');
    const remote = waitForEvent(cache, 'a remote invalidation', isRemote);
    await peer.invalidate('user:4243');
    await remote;
    const text = await registry.metrics();
    const labelValues = allLabelValues(await parseExposition(text));
    expect(labelValues).to.include('keys');
    expect(labelValues.filter((value) => value.includes('4242') || value.includes('4243'))).to.deep.equal([]);
    expect(text).not.to.match(/424[23]/);
    stop();
    await Promise.all([cache.close(), peer.close()]);
  });
});
