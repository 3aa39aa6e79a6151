/**
 * The PRODUCER and CONSUMER spans follow the OpenTelemetry messaging semantic
 * conventions (v1.44, development status): span names `{operation} {channel}`,
 * `messaging.system` by transport kind, `messaging.operation.name` and
 * `.type`, `messaging.destination.name`, set when the span starts (samplers
 * see them), checked through an in-memory exporter.
 */
import { SpanKind } from '@opentelemetry/api';
import type { Sampler, SamplingResult } from '@opentelemetry/sdk-trace';
import { InMemorySpanExporter, SamplingDecision, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { expect } from 'chai';
import { createCache, MemoryBus, otelTracing, type Transport } from '../../src/index.ts';
import { testTracerProvider, tracedPair } from '../support/otel.ts';

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** The memory bus, reporting another kind (as the Redis and cluster transports would). */
function kindOf(transport: Transport, kind: string): Transport {
  return new Proxy(transport, { get: (target, property, receiver) => (property === 'kind' ? kind : Reflect.get(target, property, receiver) as unknown) });
}

describe('OpenTelemetry messaging conventions', () => {
  it('names and attributes the PRODUCER and CONSUMER spans by the messaging conventions', async () => {
    const { exporter, a, b } = await tracedPair();
    await a.invalidate('k');
    await settle();
    const spans = exporter.getFinishedSpans();
    const publish = spans.find((s) => s.kind === SpanKind.PRODUCER);
    const process = spans.find((s) => s.kind === SpanKind.CONSUMER);
    expect(publish?.name).to.equal('publish coherent-cache:config');
    expect(publish?.attributes).to.include({
      'messaging.system': 'memory',
      'messaging.operation.name': 'publish',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'coherent-cache:config',
    });
    expect(publish?.attributes, 'one message: no batch count').not.to.have.property('messaging.batch.message_count');
    expect(process?.name).to.equal('process coherent-cache:config');
    expect(process?.attributes).to.include({
      'messaging.system': 'memory',
      'messaging.operation.name': 'process',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'coherent-cache:config',
    });
    await Promise.all([a.close(), b.close()]);
  });

  it('names the system by transport kind: redis, node_cluster_ipc, memory, any other kind as it is', async () => {
    for (const [kind, system] of [
      ['redis', 'redis'],
      ['cluster-ipc', 'node_cluster_ipc'],
      ['memory', 'memory'],
      ['nats', 'nats'],
    ] as const) {
      const { tracerProvider, exporter } = testTracerProvider();
      const bus = new MemoryBus();
      const cache = createCache<string>({ name: 'kinds', transport: kindOf(bus.transport(), kind), metrics: false, tracing: otelTracing({ tracerProvider }) });
      await cache.ready();
      await cache.invalidate('k');
      const publish = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.PRODUCER);
      expect(publish?.attributes['messaging.system'], kind).to.equal(system);
      await cache.close();
    }
  });

  it('gives a sampler the messaging attributes when the span starts', async () => {
    const seen: Record<string, unknown>[] = [];
    const sampler: Sampler = {
      shouldSample: (_context, _traceId, _name, _kind, attributes): SamplingResult => {
        seen.push({ ...attributes });
        return { decision: SamplingDecision.RECORD_AND_SAMPLED };
      },
      toString: () => 'recording',
    };
    const tracerProvider = new TracerProvider({ sampler, spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })] });
    const bus = new MemoryBus();
    const a = createCache<string>({ name: 'sampled', transport: bus.transport(), metrics: false, tracing: otelTracing({ tracerProvider }) });
    const b = createCache<string>({ name: 'sampled', transport: bus.transport(), metrics: false, tracing: otelTracing({ tracerProvider }) });
    await Promise.all([a.ready(), b.ready()]);
    await a.invalidate('k');
    await settle();
    const operations = seen.map((attributes) => attributes['messaging.operation.name']);
    expect(operations).to.have.members(['publish', 'process']);
    for (const attributes of seen) expect(attributes).to.include({ 'messaging.system': 'memory', 'messaging.destination.name': 'coherent-cache:sampled' });
    await Promise.all([a.close(), b.close()]);
  });

  it('counts the messages of a publish split into several (messaging.batch.message_count)', async () => {
    const { tracerProvider, exporter } = testTracerProvider();
    const bus = new MemoryBus();
    const cache = createCache<string>({ name: 'batch', transport: bus.transport(), metrics: false, tracing: otelTracing({ tracerProvider }), messageLimits: { maxKeysPerMessage: 2 } });
    await cache.ready();
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((key) => cache.invalidate(key)));
    const publish = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.PRODUCER);
    expect(publish?.attributes['messaging.batch.message_count']).to.equal(3);
    await cache.close();
  });
});
