/**
 * The OpenTelemetry projection through in-memory SDK parts: every metric of
 * the catalogue under its name, values after a known sequence, spans for
 * loads, publishes and received messages, and the receiver's span continuing
 * the publisher's trace.
 */
import { expect } from 'chai';
import { context, createNoopMeter, SpanKind, trace } from '@opentelemetry/api';
import sinon from 'sinon';
import type { Histogram } from '@opentelemetry/sdk-metrics';
import { createCache, instrumentCache, MemoryBus, METRICS, otelTracing, traceReads, type Cache } from '../../src/index.ts';
import { pointValue, testMeterProvider, testTracerProvider, tracedPair } from '../support/otel.ts';

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('OpenTelemetry metrics', () => {
  it('exports every catalogue metric, with values folded from the events', async () => {
    const { meterProvider, reader } = testMeterProvider();
    const bus = new MemoryBus();
    const a = createCache<string>({ name: 'config', transport: bus.transport(), maxEntries: 2, metrics: { meterProvider }, tracing: false });
    // The peer reports to its own provider, as another process would.
    const peer = testMeterProvider();
    const b = createCache<string>({ name: 'config', transport: bus.transport(), metrics: { meterProvider: peer.meterProvider }, tracing: false });
    await Promise.all([a.ready(), b.ready()]);
    await a.get('x', () => 'X'); // miss absent + load ok
    await a.get('x', () => 'unused'); // hit
    await a.get('bad', () => Promise.reject(new Error('down'))).catch(() => undefined); // load error
    a.set('y', 'Y');
    a.set('z', 'Z'); // evicts x
    b.set('y', 'Y');
    await a.invalidate('y'); // local on a, remote on b
    await settle();

    const byName = await reader.metricsByName();
    const peerByName = await peer.reader.metricsByName();
    // A histogram appears once it has a sample: the lag only on the receiving peer.
    for (const metric of METRICS) expect(byName.has(metric.name) || peerByName.has(metric.name), metric.name).to.equal(true);
    const requests = byName.get('coherent_cache.requests');
    expect(pointValue(requests, { cache: 'config', result: 'hit' })).to.equal(1);
    expect(pointValue(requests, { cache: 'config', result: 'miss', reason: 'absent' })).to.equal(2);
    expect(pointValue(byName.get('coherent_cache.loads'), { outcome: 'error' })).to.equal(1);
    expect(pointValue(byName.get('coherent_cache.evicted'), { reason: 'capacity' })).to.equal(1);
    expect(pointValue(byName.get('coherent_cache.invalidated'), { origin: 'local', scope: 'key' })).to.equal(1);
    expect(pointValue(peerByName.get('coherent_cache.invalidated'), { origin: 'remote', scope: 'key' })).to.equal(1);
    expect(pointValue(byName.get('coherent_cache.link.degraded'), {})).to.equal(0);
    const durations = byName.get('coherent_cache.load.duration');
    expect(durations?.descriptor.unit).to.equal('s');
    expect((pointValue(durations, { outcome: 'ok' }) as Histogram).count).to.equal(1);
    const lag = pointValue(peerByName.get('coherent_cache.propagation.lag'), { cache: 'config' }) as Histogram;
    expect(lag.count).to.equal(1);
    await Promise.all([a.close(), b.close()]);
  });

  it('never labels a metric with a key', async () => {
    const { meterProvider, reader } = testMeterProvider();
    const cache = createCache<string>({ name: 'labels', metrics: { meterProvider }, tracing: false });
    await cache.get('user:4242', () => 'v');
    await cache.invalidate('user:4242');
    const byName = await reader.metricsByName();
    const labelValues = [...byName.values()].flatMap((metric) => (metric.dataPoints as { attributes: Record<string, unknown> }[]).flatMap((p) => Object.values(p.attributes)));
    expect(labelValues).not.to.include('user:4242');
  });

  it('attaches nothing to the cache for the no-op meter of an API without an SDK', async () => {
    const cache = createCache<string>({ name: 'noop', metrics: false, tracing: false });
    const on = sinon.spy(cache, 'on');
    const stopNoop = instrumentCache(cache, { meterProvider: { getMeter: () => createNoopMeter() } });
    expect(on.callCount).to.equal(0);
    const stopReal = instrumentCache(cache, { meterProvider: testMeterProvider().meterProvider });
    // loaded, load.timedout (whose late end is no duration), invalidated.
    expect(on.callCount, 'a real meter is fed the histogram events').to.equal(3);
    stopNoop();
    stopReal();
    await cache.close();
  });

  it('stops reporting a cache once it is closed', async () => {
    const { meterProvider, reader } = testMeterProvider();
    const cache = createCache<string>({ name: 'gone', metrics: { meterProvider }, tracing: false });
    cache.set('k', 'v');
    await cache.close();
    const entries = (await reader.metricsByName()).get('coherent_cache.entries');
    expect(pointValue(entries, { cache: 'gone' })).to.equal(undefined);
  });
});

describe('OpenTelemetry: background loads (staleWhileRevalidate, refreshAhead)', () => {
  it('a background load has its duration recorded and its span says why it ran', async () => {
    const clock = sinon.useFakeTimers({ now: 0 });
    try {
      const { meterProvider, reader } = testMeterProvider();
      const { tracerProvider, exporter } = testTracerProvider();
      const cache = createCache<string>({ name: 'bg', ttl: 100, staleWhileRevalidate: 1_000, metrics: { meterProvider }, tracing: otelTracing({ tracerProvider }) });
      await cache.get('k', () => 'v1');
      clock.tick(150);
      expect(await cache.get('k', () => 'v2')).to.equal('v1');
      await settle();
      const durations = (await reader.metricsByName()).get('coherent_cache.load.duration');
      expect((pointValue(durations, { outcome: 'ok' }) as Histogram).count).to.equal(2);
      expect(exporter.getFinishedSpans().map((span) => span.attributes['coherent_cache.load.reason'])).to.deep.equal([undefined, 'swr']);
      await cache.close();
    } finally {
      clock.restore();
    }
  });
});

describe('OpenTelemetry spans', () => {
  it('a span per load, without the key unless asked, failed loads by error class only', async () => {
    const { tracerProvider, exporter } = testTracerProvider();
    const cache = createCache<string>({ name: 'spans', metrics: false, tracing: otelTracing({ tracerProvider }) });
    await cache.get('secret-key', () => 'v');
    await cache.get('other', () => Promise.reject(new TypeError('value 42 leaked?'))).catch(() => undefined);
    const [ok, failed] = exporter.getFinishedSpans();
    expect(ok?.name).to.equal('coherent_cache.load');
    expect(ok?.attributes).to.deep.equal({ 'coherent_cache.name': 'spans', 'coherent_cache.load.outcome': 'ok', 'coherent_cache.load.waiters': 1 });
    expect(failed?.attributes['error.type']).to.equal('TypeError');
    expect(JSON.stringify({ name: failed?.name, attributes: failed?.attributes, status: failed?.status, events: failed?.events })).not.to.include('leaked');
  });

  it('records keys through a sanitizer when opted in, and runs the loader inside the load span', async () => {
    const { tracerProvider, exporter } = testTracerProvider();
    const cache = createCache<string>({
      name: 'spans',
      metrics: false,
      tracing: otelTracing({ tracerProvider, recordKeys: (key) => key.split(':')[0] }),
    });
    let parentInLoader: string | undefined;
    await cache.get('user:4242', () => {
      parentInLoader = trace.getActiveSpan()?.spanContext().spanId;
      return 'v';
    });
    const [load] = exporter.getFinishedSpans();
    expect(load?.attributes['coherent_cache.key']).to.equal('user');
    expect(parentInLoader).to.equal(load?.spanContext().spanId);
  });

  it('the receiver continues the publisher trace and links to its PRODUCER span', async () => {
    const { tracerProvider, exporter, a, b } = await tracedPair();
    const writer = tracerProvider.getTracer('app').startSpan('write config');
    await context.with(trace.setSpan(context.active(), writer), () => a.invalidate('k'));
    writer.end();
    await settle();
    const spans = exporter.getFinishedSpans();
    const publish = spans.find((s) => s.kind === SpanKind.PRODUCER);
    const process = spans.find((s) => s.kind === SpanKind.CONSUMER);
    expect(publish?.name).to.equal('publish coherent-cache:config');
    expect(publish?.parentSpanContext?.spanId).to.equal(writer.spanContext().spanId);
    expect(process?.name).to.equal('process coherent-cache:config');
    expect(process?.spanContext().traceId).to.equal(writer.spanContext().traceId);
    expect(process?.links.map((link) => link.context.spanId)).to.deep.equal([publish?.spanContext().spanId]);
    await Promise.all([a.close(), b.close()]);
  });

  it('by default follows the global SDK: none, one, its replacement after trace.disable(), none again', async () => {
    const bus = new MemoryBus();
    const a = createCache<string>({ name: 'global', transport: bus.transport(), metrics: false });
    const b = createCache<string>({ name: 'global', transport: bus.transport(), metrics: false });
    await Promise.all([a.ready(), b.ready()]);
    const kinds = (exporter: { getFinishedSpans(): { kind: SpanKind }[] }) => exporter.getFinishedSpans().map((span) => span.kind);
    try {
      const first = testTracerProvider();
      trace.setGlobalTracerProvider(first.tracerProvider);
      await a.invalidate('k');
      await settle();
      expect(kinds(first.exporter)).to.have.members([SpanKind.PRODUCER, SpanKind.CONSUMER]);

      // disable() leaves the first SDK's provider behind the old global proxy: spans must go to the second one.
      trace.disable();
      const second = testTracerProvider();
      trace.setGlobalTracerProvider(second.tracerProvider);
      await a.invalidate('k');
      await settle();
      expect(kinds(second.exporter)).to.have.members([SpanKind.PRODUCER, SpanKind.CONSUMER]);
      expect(first.exporter.getFinishedSpans()).to.have.length(2);

      trace.disable();
      await a.invalidate('k');
      await a.get('loaded', () => 'v');
      await settle();
      expect(first.exporter.getFinishedSpans()).to.have.length(2);
      expect(second.exporter.getFinishedSpans()).to.have.length(2);
    } finally {
      trace.disable();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('adds hits and misses to the active span only when asked', async () => {
    const { tracerProvider, exporter } = testTracerProvider();
    const cache: Cache<string> = createCache<string>({ name: 'reads', metrics: false, tracing: false });
    const tracer = tracerProvider.getTracer('app');
    await tracer.startActiveSpan('request 1', async (span) => {
      await cache.get('k', () => 'v');
      span.end();
    });
    const stop = traceReads(cache);
    await tracer.startActiveSpan('request 2', async (span) => {
      await cache.get('k', () => 'v');
      await cache.get('absent', () => 'v');
      span.end();
    });
    stop();
    const [first, second] = exporter.getFinishedSpans();
    expect(first?.events).to.deep.equal([]);
    expect(second?.events.map((e) => e.name)).to.deep.equal(['coherent_cache.hit', 'coherent_cache.miss']);
    expect(second?.events[1]?.attributes).to.include({ 'coherent_cache.miss.reason': 'absent' });
  });
});
