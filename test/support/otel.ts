/** In-memory OpenTelemetry SDK parts for tests: a metric reader to collect on demand, and a span exporter. */
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider, MetricReader, type DataPoint, type MetricData } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { createCache, MemoryBus, otelTracing, type Cache } from '../../src/index.ts';

// What the NodeSDK does in a service: without a context manager, no span is ever "active".
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

/** A reader that collects only when the test asks. */
export class TestMetricReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  /** Every metric collected now, by instrument name. */
  async metricsByName(): Promise<Map<string, MetricData>> {
    const { resourceMetrics } = await this.collect();
    const byName = new Map<string, MetricData>();
    for (const scope of resourceMetrics.scopeMetrics) for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
    return byName;
  }
}

export function testMeterProvider(): { meterProvider: MeterProvider; reader: TestMetricReader } {
  const reader = new TestMetricReader();
  return { meterProvider: new MeterProvider({ readers: [reader] }), reader };
}

export function testTracerProvider(): { tracerProvider: TracerProvider; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  return { tracerProvider: new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }), exporter };
}

/** The value of the data point whose attributes include `match`. */
export function pointValue(metric: MetricData | undefined, match: Record<string, string>): unknown {
  const points = (metric?.dataPoints ?? []) as DataPoint<unknown>[];
  const point = points.find((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v));
  return point?.value;
}

/** Two caches named `config` on one in-memory bus, traced into one in-memory exporter, both connected. */
export async function tracedPair(): Promise<{ tracerProvider: TracerProvider; exporter: InMemorySpanExporter; a: Cache<string>; b: Cache<string> }> {
  const { tracerProvider, exporter } = testTracerProvider();
  const bus = new MemoryBus();
  const tracing = otelTracing({ tracerProvider });
  const a = createCache<string>({ name: 'config', transport: bus.transport(), metrics: false, tracing });
  const b = createCache<string>({ name: 'config', transport: bus.transport(), metrics: false, tracing });
  await Promise.all([a.ready(), b.ready()]);
  return { tracerProvider, exporter, a, b };
}
