/**
 * Telemetry ends with the cache on the OpenTelemetry path too: a closed
 * cache's series leave setupTelemetry's Prometheus endpoint (counters, gauges
 * and histograms), as they leave prom-client's. The SDK alone would keep them:
 * under cumulative temporality it re-exports the last value of an attribute
 * set its callback stopped observing, for as long as the process lives.
 */
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { expect } from 'chai';
import type { PromMetrics } from 'prom2javascript';
import { createCache, dropClosedCaches, MemoryBus, METRICS, type CacheEvent } from '../../src/index.ts';
import { setupTelemetry, type Telemetry } from '../../src/telemetry/setup.ts';
import { parseExposition, scrapeText, valueIncluding } from '../support/exposition.ts';
import { freePort } from '../support/ports.ts';
import { waitForEvent } from '../support/wait-for-event.ts';

/** Every sample (histogram buckets included) whose `cache` label is `name`. */
function seriesOf(parsed: PromMetrics, name: string): string[] {
  return Object.entries(parsed).flatMap(([metric, family]) => family.data.filter((point) => point.labels['cache'] === name).map(() => metric));
}

describe('OpenTelemetry: a closed cache leaves the exporter', function () {
  this.timeout(30_000);
  let telemetry: Telemetry | undefined;
  afterEach(async () => {
    await telemetry?.shutdown();
    telemetry = undefined;
  });

  it('its series (a degraded link included) leave the Prometheus endpoint on close(); the caches still open stay', async () => {
    const port = await freePort();
    telemetry = await setupTelemetry({ serviceName: 'closing', port, host: '127.0.0.1' });
    const meterProvider = telemetry.meterProvider;
    const bus = new MemoryBus();
    const link = bus.transport();
    const gone = createCache<number>({ name: 'gone', transport: link, degradedTtl: 400, closeTimeout: 200, metrics: { meterProvider }, tracing: false });
    const stays = createCache<number>({ name: 'stays', transport: bus.transport(), metrics: { meterProvider }, tracing: false });
    const peer = createCache<number>({ name: 'gone', transport: bus.transport(), metrics: false, tracing: false });
    await Promise.all([gone.ready(), stays.ready(), peer.ready()]);
    await gone.get('k', () => 1); // a load: both histograms and the counters get series
    await stays.get('k', () => 2);
    const remote = waitForEvent(gone, 'a remote invalidation', (e: CacheEvent<number>) => e.type === 'invalidated' && e.origin === 'remote');
    await peer.invalidate('other');
    await remote; // a propagation-lag sample
    await gone.get('k', () => 1);
    const degraded = waitForEvent(gone, 'the link lost', (e: CacheEvent<number>) => e.type === 'link.changed' && e.state === 'degraded');
    link.disconnect();
    await degraded;

    const before = await parseExposition(await scrapeText(telemetry.metricsUrl));
    expect(valueIncluding(before, 'coherent_cache_entries', { cache: 'gone' })).to.equal(1);
    expect(valueIncluding(before, 'coherent_cache_link_degraded', { cache: 'gone' })).to.equal(1);
    // Every metric of the catalogue has a series for it.
    expect(new Set(seriesOf(before, 'gone'))).to.deep.equal(new Set(METRICS.map((m) => m.prometheusName)));
    const staying = new Set(seriesOf(before, 'stays'));

    await gone.close();
    // Twice: the first collection after close() and every later one.
    for (let scrape = 0; scrape < 2; scrape++) {
      const after = await parseExposition(await scrapeText(telemetry.metricsUrl));
      expect(seriesOf(after, 'gone'), `scrape ${scrape + 1} after close()`).to.deep.equal([]);
      expect(valueIncluding(after, 'coherent_cache_entries', { cache: 'stays' })).to.equal(1);
      expect(valueIncluding(after, 'coherent_cache_link_degraded', { cache: 'stays' })).to.equal(0);
      expect(new Set(seriesOf(after, 'stays'))).to.deep.equal(staying);
    }

    // A new cache of the same name is exported again, with its own figures.
    const again = createCache<number>({ name: 'gone', metrics: { meterProvider }, tracing: false });
    again.set('a', 1);
    again.set('b', 2);
    const back = await parseExposition(await scrapeText(telemetry.metricsUrl));
    expect(valueIncluding(back, 'coherent_cache_entries', { cache: 'gone' })).to.equal(2);
    expect(valueIncluding(back, 'coherent_cache_link_degraded', { cache: 'gone' })).to.equal(0);
    expect(valueIncluding(back, 'coherent_cache_stored_total', { cache: 'gone', source: 'set' })).to.equal(2);

    await Promise.all([again.close(), stays.close(), peer.close()]);
  });

  it('dropClosedCaches(reader) does the same for a reader of your own; without it the SDK keeps the last values', async () => {
    class Reader extends MetricReader {
      protected onShutdown(): Promise<void> {
        return Promise.resolve();
      }
      protected onForceFlush(): Promise<void> {
        return Promise.resolve();
      }
    }
    const kept = new Reader();
    const dropped = dropClosedCaches(new Reader());
    const meterProvider = new MeterProvider({ readers: [kept, dropped] });
    const cache = createCache<number>({ name: 'mine', metrics: { meterProvider }, tracing: false });
    cache.set('k', 1);
    const cachesIn = async (reader: MetricReader): Promise<Set<unknown>> => {
      const { resourceMetrics } = await reader.collect();
      const names = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.flatMap((metric) => (metric.dataPoints as { attributes: Record<string, unknown> }[]).map((p) => p.attributes['cache'])));
      return new Set(names);
    };
    expect(await cachesIn(kept)).to.deep.equal(new Set(['mine']));
    expect(await cachesIn(dropped)).to.deep.equal(new Set(['mine']));
    await cache.close();
    // What the SDK does by itself (sdk-metrics 3.1: cumulative temporality re-exports unobserved attribute sets)...
    expect(await cachesIn(kept)).to.deep.equal(new Set(['mine']));
    // ...and with the filter.
    expect(await cachesIn(dropped)).to.deep.equal(new Set());
    await meterProvider.shutdown();
  });
});
