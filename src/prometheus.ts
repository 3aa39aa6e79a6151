/**
 * `coherent-cache/prometheus`: the prom-client bridge, a separate entry point so
 * that services without prom-client (an optional peer dependency) never load
 * or type-check against it.
 */
export { registerPrometheus } from './telemetry/prometheus.ts';
export type { PrometheusOptions } from './telemetry/prometheus.ts';
