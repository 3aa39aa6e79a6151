/**
 * setupTelemetry end to end: the NodeSDK's Prometheus endpoint scraped over
 * HTTP, its text checked by `promtool check metrics` and parsed with
 * prom2javascript, compared with the catalogue (names, labels, values) and
 * with what the exporter is known to do to names; the OTLP push to a
 * collector; and a shutdown that frees the port and the global providers.
 */
import http from 'node:http';
import { metrics } from '@opentelemetry/api';
import { expect } from 'chai';
import type { PromData, PromHistogramData } from 'prom2javascript';
import { createCache, instrumentCache, MemoryBus, METRICS, otelTracing, type CacheEvent } from '../../src/index.ts';
import { setupTelemetry, type Telemetry } from '../../src/telemetry/setup.ts';
// The exporter adds labels of its own (otel_scope_*): samples are looked up by the labels they include.
import { histogramIncluding as histogramOf, parseExposition, sampleNames as sampleNamesOf, scrapeText, valueIncluding as valueOf } from '../support/exposition.ts';
import { close, freePort, holdPort, listen, listenable } from '../support/ports.ts';
import { rejectionOf } from '../support/rejection.ts';
import { waitForEvent } from '../support/wait-for-event.ts';

const SCOPE = { otel_scope_name: 'coherent-cache' };

describe('setupTelemetry: the OpenTelemetry SDK in one call', function () {
  this.timeout(30_000);
  let telemetry: Telemetry | undefined;
  afterEach(async () => {
    await telemetry?.shutdown();
    telemetry = undefined;
  });

  it('serves exactly the catalogue on its Prometheus endpoint, with the values of a known sequence', async () => {
    const port = await freePort();
    telemetry = await setupTelemetry({ serviceName: 'test', port, host: '127.0.0.1', resourceAttributes: { 'service.version': '1.2.3' } });
    expect(telemetry.metricsUrl).to.equal(`http://127.0.0.1:${port}/metrics`);
    const bus = new MemoryBus();
    const cache = createCache<string>({ name: 'orders', maxEntries: 2, transport: bus.transport(), metrics: { meterProvider: telemetry.meterProvider }, tracing: false });
    // The peer is another process: not measured here.
    const peer = createCache<string>({ name: 'orders', transport: bus.transport(), metrics: false, tracing: false });
    await Promise.all([cache.ready(), peer.ready()]);

    await cache.get('a', () => 'A'); // miss absent, load ok
    await cache.get('a', () => 'unused'); // hit
    await rejectionOf(cache.get('bad', () => Promise.reject(new Error('down')))); // miss absent, load error
    cache.set('x', 'X');
    cache.set('y', 'Y'); // evicts a
    await cache.invalidate('x'); // local, published
    const remote = waitForEvent(cache, 'a remote invalidation', (e: CacheEvent<string>) => e.type === 'invalidated' && e.origin === 'remote');
    await peer.invalidate('y');
    await remote;
    const rejected = waitForEvent(cache, 'a rejected message', (e) => e.type === 'message.rejected');
    await bus.transport().publish('coherent-cache:orders', ['garbage']);
    await rejected;

    const text = await scrapeText(telemetry.metricsUrl);
    const parsed = await parseExposition(text);

    // Names: the catalogue's, plus the exporter's target_info.
    expect(Object.keys(parsed).sort()).to.deep.equal([...METRICS.map((m) => m.prometheusName), 'target_info'].sort());
    expect((parsed['target_info']?.data as PromData[])[0]?.labels).to.include({ service_name: 'test', service_version: '1.2.3' });
    for (const metric of METRICS) {
      const family = parsed[metric.prometheusName];
      expect(family?.type, metric.prometheusName).to.equal(metric.kind);
      expect(family?.help, metric.prometheusName).to.equal(metric.description);
      // Labels: `cache`, the metric's own, and the exporter's scope label (histogram buckets add `le`, which the parser takes out).
      const expected = ['cache', ...metric.labels, ...Object.keys(SCOPE)].sort();
      expect(family?.data.length, metric.prometheusName).to.be.greaterThan(0);
      for (const point of family?.data ?? []) {
        expect(Object.keys(point.labels).sort(), metric.prometheusName).to.deep.equal(expected);
        expect(point.labels).to.include({ cache: 'orders', ...SCOPE });
      }
      if (metric.kind === 'histogram') {
        for (const histogram of family?.data as PromHistogramData[]) {
          const bounds = Object.keys(histogram.buckets).map((le) => (le === '+Inf' ? Infinity : Number(le)));
          expect(bounds.sort((x, y) => x - y)).to.deep.equal([...metric.buckets, Infinity]);
          expect(histogram.sum, metric.prometheusName).to.be.a('number');
        }
      }
    }

    const orders = { cache: 'orders', ...SCOPE };
    expect(valueOf(parsed, 'coherent_cache_requests_total', { ...orders, result: 'hit', reason: 'fresh' })).to.equal(1);
    expect(valueOf(parsed, 'coherent_cache_requests_total', { ...orders, result: 'miss', reason: 'absent' })).to.equal(2);
    expect(valueOf(parsed, 'coherent_cache_loads_total', { ...orders, outcome: 'ok' })).to.equal(1);
    expect(valueOf(parsed, 'coherent_cache_loads_total', { ...orders, outcome: 'error' })).to.equal(1);
    expect(valueOf(parsed, 'coherent_cache_stored_total', { ...orders, source: 'load' })).to.equal(1);
    expect(valueOf(parsed, 'coherent_cache_stored_total', { ...orders, source: 'set' })).to.equal(2);
    expect(valueOf(parsed, 'coherent_cache_evicted_total', { ...orders, reason: 'capacity' })).to.equal(1);
    expect(valueOf(parsed, 'coherent_cache_invalidated_total', { ...orders, origin: 'local', scope: 'key' })).to.equal(1);
    expect(valueOf(parsed, 'coherent_cache_invalidated_total', { ...orders, origin: 'remote', scope: 'key' })).to.equal(1);
    expect(valueOf(parsed, 'coherent_cache_published_messages_total', orders)).to.equal(1);
    expect(valueOf(parsed, 'coherent_cache_message_rejected_total', { ...orders, reason: 'not-json' })).to.equal(1);
    expect(valueOf(parsed, 'coherent_cache_entries', orders)).to.equal(0);
    expect(valueOf(parsed, 'coherent_cache_link_degraded', orders)).to.equal(0);
    for (const outcome of ['ok', 'error']) {
      const durations = histogramOf(parsed, 'coherent_cache_load_duration', { ...orders, outcome });
      expect(durations?.count, outcome).to.equal(1);
      expect(durations?.buckets['+Inf'], outcome).to.equal(1);
    }
    expect(histogramOf(parsed, 'coherent_cache_propagation_lag', orders)?.count).to.equal(1);

    await Promise.all([cache.close(), peer.close()]);
  });

  it('what the exporter does to names: dots to underscores, `_total` on counters, the unit only in a # UNIT comment', async () => {
    const port = await freePort();
    telemetry = await setupTelemetry({ serviceName: 'names', port, host: '127.0.0.1' });
    const cache = createCache<string>({ name: 'names', metrics: { meterProvider: telemetry.meterProvider }, tracing: false });
    await cache.get('k', () => 'v');
    const transport = new MemoryBus();
    const peer = createCache<string>({ name: 'names', transport: transport.transport(), metrics: false, tracing: false });
    const receiver = createCache<string>({ name: 'names', transport: transport.transport(), metrics: { meterProvider: telemetry.meterProvider }, tracing: false });
    await Promise.all([peer.ready(), receiver.ready()]);
    const remote = waitForEvent(receiver, 'a remote invalidation', (e) => e.type === 'invalidated' && e.origin === 'remote');
    await peer.invalidate('k');
    await remote;

    const text = await scrapeText(telemetry.metricsUrl);
    for (const metric of METRICS) {
      const exporterName = metric.name.replaceAll('.', '_') + (metric.kind === 'counter' ? '_total' : '');
      expect(metric.prometheusName, metric.name).to.equal(exporterName);
    }
    const sampleNames = new Set(sampleNamesOf(text));
    const expectedSamples = METRICS.flatMap((m) => (m.kind === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => m.prometheusName + s) : [m.prometheusName]));
    expect([...sampleNames].sort()).to.deep.equal([...expectedSamples, 'target_info'].sort());
    const unitLines = text.split('\n').filter((line) => line.startsWith('# UNIT '));
    expect(unitLines.sort()).to.deep.equal(METRICS.map((m) => `# UNIT ${m.prometheusName} ${m.unit}`).sort());
    expect(text).not.to.match(/_seconds|_ratio|coherent_cache_[a-z_]*_total_total/);

    await Promise.all([cache.close(), peer.close(), receiver.close()]);
  });

  it('a cache created before the setup reports nothing until instrumented with the returned meterProvider', async () => {
    expect(metrics.getMeterProvider().constructor.name, 'no global MeterProvider before this test').to.equal('NoopMeterProvider');
    const early = createCache<string>({ name: 'early', tracing: false });
    const port = await freePort();
    telemetry = await setupTelemetry({ serviceName: 'early', port, host: '127.0.0.1' });
    expect(metrics.getMeterProvider()).to.equal(telemetry.meterProvider);
    early.set('k', 'v');
    const late = createCache<string>({ name: 'late', tracing: false });
    late.set('k', 'v');
    let parsed = await parseExposition(await scrapeText(telemetry.metricsUrl));
    expect(valueOf(parsed, 'coherent_cache_entries', { cache: 'late' })).to.equal(1);
    expect(valueOf(parsed, 'coherent_cache_entries', { cache: 'early' })).to.equal(undefined);

    const stop = instrumentCache(early, { meterProvider: telemetry.meterProvider });
    parsed = await parseExposition(await scrapeText(telemetry.metricsUrl));
    expect(valueOf(parsed, 'coherent_cache_entries', { cache: 'early' })).to.equal(1);
    stop();
    await Promise.all([early.close(), late.close()]);
  });

  it('shutdown is idempotent, frees the port and the global providers; a taken port or provider rejects', async () => {
    const port = await freePort();
    const first = await setupTelemetry({ serviceName: 'first', port, host: '127.0.0.1' });
    telemetry = first;
    const otherPort = await freePort();
    const twice = await rejectionOf(setupTelemetry({ serviceName: 'second', port: otherPort, host: '127.0.0.1' }));
    expect(twice.message).to.match(/global MeterProvider is already registered/);
    expect(await listenable(otherPort)).to.equal(true);
    expect(metrics.getMeterProvider()).to.equal(first.meterProvider);

    await first.shutdown();
    await first.shutdown(); // again: no error
    expect((await rejectionOf(fetch(`http://127.0.0.1:${port}/metrics`))).message).to.equal('fetch failed');
    expect(metrics.getMeterProvider().constructor.name).to.equal('NoopMeterProvider');
    expect(await listenable(port)).to.equal(true);

    const blocker = await holdPort(port);
    const taken = await rejectionOf(setupTelemetry({ serviceName: 'blocked', port, host: '127.0.0.1' })).finally(() => blocker.release());
    expect((taken as NodeJS.ErrnoException).code).to.equal('EADDRINUSE');
    expect(metrics.getMeterProvider().constructor.name).to.equal('NoopMeterProvider');

    telemetry = await setupTelemetry({ serviceName: 'again', port, host: '127.0.0.1' });
    expect((await fetch(telemetry.metricsUrl ?? '')).status).to.equal(200);
  });

  it('starts nothing when OTEL_SDK_DISABLED=true', async () => {
    const port = await freePort();
    process.env['OTEL_SDK_DISABLED'] = 'true';
    try {
      telemetry = await setupTelemetry({ serviceName: 'disabled', port, host: '127.0.0.1' });
    } finally {
      delete process.env['OTEL_SDK_DISABLED'];
    }
    expect(telemetry.metricsUrl).to.equal(undefined);
    expect(telemetry.meterProvider.constructor.name).to.equal('NoopMeterProvider');
    expect(await listenable(port)).to.equal(true);
  });

  it('pushes metrics and spans over OTLP/HTTP to otlpEndpoint', async () => {
    const received: { path: string | undefined; type: string | undefined; body: Buffer }[] = [];
    const collector = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ path: request.url, type: request.headers['content-type'], body: Buffer.concat(chunks) });
        response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    const port = await listen(collector);
    try {
      telemetry = await setupTelemetry({ serviceName: 'pusher', port: false, otlpEndpoint: `http://127.0.0.1:${port}/` });
      expect(telemetry.metricsUrl).to.equal(undefined);
      const cache = createCache<string>({ name: 'pushed', metrics: { meterProvider: telemetry.meterProvider }, tracing: otelTracing() });
      await cache.get('k', () => 'v');
      // Shutdown flushes both pipelines: no waiting for the export interval.
      await telemetry.shutdown();
      const byPath = new Map(received.map((r) => [r.path, r]));
      expect([...byPath.keys()].sort()).to.deep.equal(['/v1/metrics', '/v1/traces']);
      const pushedMetrics = byPath.get('/v1/metrics');
      expect(pushedMetrics?.type).to.equal('application/x-protobuf');
      expect(pushedMetrics?.body.toString('latin1')).to.include('coherent_cache.requests').and.to.include('pusher').and.to.include('pushed');
      expect(byPath.get('/v1/traces')?.body.toString('latin1')).to.include('coherent_cache.load');
      await cache.close();
    } finally {
      await close(collector);
    }
  });
});
