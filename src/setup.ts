/**
 * `coherent-cache/setup`: one-call OpenTelemetry NodeSDK setup (Prometheus
 * endpoint, optional OTLP push), a separate entry point because the SDK
 * packages are optional peer dependencies.
 */
export { setupTelemetry } from './telemetry/setup.ts';
export type { Telemetry, TelemetryOptions } from './telemetry/setup.ts';
