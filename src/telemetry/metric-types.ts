/** The shapes of the catalogue's metrics (catalogue.ts lists them). */
import type { CacheStats } from '../cache/cache.ts';

export type Labels = Readonly<Record<string, string>>;
export type Point = readonly [labels: Labels, value: number];

interface MetricBase {
  /** OpenTelemetry instrument name. */
  readonly name: string;
  /** What the Prometheus exporter (and the prom-client bridge) call it. */
  readonly prometheusName: string;
  readonly description: string;
  /** UCUM unit; `{...}` annotations are dimensionless counts. */
  readonly unit: string;
  /** Label names besides `cache`. */
  readonly labels: readonly string[];
}

/** A monotonic count read from the folded stats at collection time. */
export interface CounterMetric extends MetricBase {
  readonly kind: 'counter';
  read(stats: CacheStats): readonly Point[];
}

/** A current value read at collection time. */
export interface GaugeMetric extends MetricBase {
  readonly kind: 'gauge';
  read(stats: CacheStats): readonly Point[];
}

/** A distribution of the slower, discrete events, recorded as they happen. */
export interface HistogramMetric extends MetricBase {
  readonly kind: 'histogram';
  /** Bucket upper bounds, in `unit`. */
  readonly buckets: readonly number[];
}

export type Metric = CounterMetric | GaugeMetric | HistogramMetric;

export const one = (value: number, labels: Labels = {}): Point[] => [[labels, value]];
