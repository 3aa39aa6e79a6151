/**
 * The OpenTelemetry metrics projection. Counters and gauges are observable
 * instruments that read `cache.stats()` when the SDK collects, so the hit path
 * pays nothing per call; the two histograms are recorded from the events that
 * carry their samples. Without an SDK the global meter is a no-op.
 *
 * One batch callback per meter serves every cache registered on it.
 */
import { createNoopMeter, metrics, ValueType, type Attributes, type BatchObservableResult, type Histogram, type Meter, type Observable } from '@opentelemetry/api';
import type { Cache } from '../cache/cache.ts';
import type { MetricsOptions } from '../cache/options.ts';
import type { Unsubscribe } from '../projections/listeners.ts';
import { CACHE_LABEL, COUNTERS, GAUGES, LOAD_DURATION, PROPAGATION_LAG, type CounterMetric, type GaugeMetric } from './catalogue.ts';
import { feedHistograms } from './histogram-feed.ts';

export const METER_NAME = 'coherent-cache';


interface Registered {
  readonly name: string;
  readonly stats: () => ReturnType<Cache<unknown>['stats']>;
}

class MeterProjection {
  readonly caches = new Set<Registered>();
  readonly loadDuration: Histogram;
  readonly propagationLag: Histogram;

  constructor(meter: Meter) {
    const observables = new Map<CounterMetric | GaugeMetric, Observable>();
    for (const metric of COUNTERS) {
      observables.set(metric, meter.createObservableCounter(metric.name, { description: metric.description, unit: metric.unit, valueType: ValueType.INT }));
    }
    for (const metric of GAUGES) {
      observables.set(metric, meter.createObservableGauge(metric.name, { description: metric.description, unit: metric.unit, valueType: ValueType.INT }));
    }
    meter.addBatchObservableCallback((result: BatchObservableResult) => {
      for (const cache of this.caches) {
        const stats = cache.stats();
        for (const [metric, observable] of observables) {
          for (const [labels, value] of metric.read(stats)) result.observe(observable, value, { [CACHE_LABEL]: cache.name, ...labels });
        }
      }
    }, [...observables.values()]);
    this.loadDuration = meter.createHistogram(LOAD_DURATION.name, {
      description: LOAD_DURATION.description,
      unit: LOAD_DURATION.unit,
      advice: { explicitBucketBoundaries: [...LOAD_DURATION.buckets] },
    });
    this.propagationLag = meter.createHistogram(PROPAGATION_LAG.name, {
      description: PROPAGATION_LAG.description,
      unit: PROPAGATION_LAG.unit,
      advice: { explicitBucketBoundaries: [...PROPAGATION_LAG.buckets] },
    });
  }
}

const projections = new WeakMap<Meter, MeterProjection>();

/** Exports a cache's metrics through OpenTelemetry. Returns the function that stops it. */
export function instrumentCache<V>(cache: Cache<V>, options: MetricsOptions = {}): Unsubscribe {
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(METER_NAME);
  // The API's no-op meter (no SDK registered) records nothing, ever: listening to the cache for it would only cost every event.
  if (meter === createNoopMeter()) return () => undefined;
  let projection = projections.get(meter);
  if (projection === undefined) {
    projection = new MeterProjection(meter);
    projections.set(meter, projection);
  }
  const registered: Registered = { name: cache.name, stats: () => cache.stats() };
  projection.caches.add(registered);
  const attributes: Attributes = { [CACHE_LABEL]: cache.name };
  const byOutcome = { ok: { ...attributes, outcome: 'ok' }, error: { ...attributes, outcome: 'error' } };
  const { loadDuration, propagationLag } = projection;
  const stopFeed = feedHistograms(cache, {
    loadDuration: (seconds, outcome) => loadDuration.record(seconds, byOutcome[outcome]),
    propagationLag: (seconds) => propagationLag.record(seconds, attributes),
  });
  const owner = projection;
  return () => {
    stopFeed();
    owner.caches.delete(registered);
  };
}
