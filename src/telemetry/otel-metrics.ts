/**
 * The OpenTelemetry metrics projection. Counters and gauges are observable
 * instruments that read `cache.stats()` when the SDK collects, so the hit path
 * pays nothing per call; the two histograms are recorded from the events that
 * carry their samples. Without an SDK the global meter is a no-op.
 *
 * One batch callback per meter serves every cache registered on it.
 *
 * Telemetry ends with the cache: a closed (or uninstrumented) cache is no
 * longer observed. That alone is not enough under cumulative temporality,
 * which the Prometheus exporter always uses: sdk-metrics (3.1) merges each
 * collection into the last one reported, so an attribute set its callback
 * stopped observing is exported with its last value for as long as the
 * process lives (the spec says it SHOULD NOT be; tracked upstream as
 * open-telemetry/opentelemetry-js#4096), and the SDK has no way to forget one:
 * views only rename, aggregate or filter attribute keys, the cardinality limit
 * only folds new sets into an overflow series, and meters are never removed (a
 * meter per cache would only freeze its series under a scope of their own).
 * So the reader drops them: `dropClosedCaches(reader)` removes, from what it
 * collects, the series of every cache whose name was retired on that meter
 * (its last cache of that name closed) and not reused since; the meter's batch
 * callback, which runs inside the collection, tells it which (through an
 * AsyncLocalStorage, so any reader of any MeterProvider works). setupTelemetry
 * wraps its readers with it. The SDK still holds the retired series' state in
 * memory: one set per distinct cache name, as before.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
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
  /** Names whose last registered cache has gone: their series are dropped by the readers dropClosedCaches wraps. */
  readonly retired = new Set<string>();
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
      const collection = collecting.getStore();
      if (collection !== undefined) collection.retired = this.retired;
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
/** The collection in progress, when its reader was wrapped by dropClosedCaches. */
const collecting = new AsyncLocalStorage<Collecting>();

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
  projection.retired.delete(cache.name);
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
    if (!owner.caches.delete(registered)) return;
    for (const other of owner.caches) if (other.name === registered.name) return;
    owner.retired.add(registered.name);
  };
}

// The parts of a collection the filter reads, as sdk-metrics shapes them (an optional peer dependency: structural types, no import).
interface CollectedPoint {
  readonly attributes: Attributes;
}
interface CollectedMetric {
  readonly dataPoints: readonly CollectedPoint[];
}
interface CollectedScope {
  readonly scope: { readonly name: string };
  readonly metrics: readonly CollectedMetric[];
}
interface Collection {
  readonly resourceMetrics: { readonly scopeMetrics: readonly CollectedScope[] };
}

/** A collection by a reader that dropClosedCaches wrapped, as the meter's batch callback sees it. */
interface Collecting {
  retired?: ReadonlySet<string>;
}

/** A MetricReader, or anything that collects as one does. */
export interface CollectingReader {
  collect(options?: never): Promise<Collection>;
}

/**
 * Makes `reader` (a PrometheusExporter, a PeriodicExportingMetricReader, any
 * MetricReader) leave out the series of caches that were closed, as prom-client's
 * registry does: the SDK itself would keep exporting their last values (a closed
 * degraded cache would keep `coherent_cache_link_degraded 1`). Only series of the
 * `coherent-cache` scope whose cache name no open cache on the reader's
 * MeterProvider holds any more are removed; a new cache of the same name is
 * exported again. Returns the reader, whose `collect` it wraps.
 */
export function dropClosedCaches<R extends CollectingReader>(reader: R): R {
  const collect = reader.collect.bind(reader) as (collectOptions?: unknown) => Promise<Collection>;
  const wrapped = async (collectOptions?: unknown): Promise<Collection> => {
    // The meter's batch callback runs inside this collection and says which names it has retired: no need to know the reader's MeterProvider.
    const collection: Collecting = {};
    const result = await collecting.run(collection, () => collect(collectOptions));
    const retired = collection.retired;
    return retired === undefined || retired.size === 0 ? result : withoutRetired(result, retired);
  };
  (reader as { collect: typeof wrapped }).collect = wrapped;
  return reader;
}

function withoutRetired(result: Collection, retired: ReadonlySet<string>): Collection {
  const live = (point: CollectedPoint): boolean => {
    const name = point.attributes[CACHE_LABEL];
    return typeof name !== 'string' || !retired.has(name);
  };
  const scopeMetrics: CollectedScope[] = [];
  for (const scope of result.resourceMetrics.scopeMetrics) {
    if (scope.scope.name !== METER_NAME) {
      scopeMetrics.push(scope);
      continue;
    }
    // As the SDK leaves out a metric with no point, and a scope with no metric.
    const kept = scope.metrics.map((metric) => ({ ...metric, dataPoints: metric.dataPoints.filter(live) })).filter((metric) => metric.dataPoints.length > 0);
    if (kept.length > 0) scopeMetrics.push({ ...scope, metrics: kept });
  }
  return { ...result, resourceMetrics: { ...result.resourceMetrics, scopeMetrics } };
}
