/** The public surface of coherent-cache (the package's main entry point). */
import { Cache, type CacheDefaults } from './cache/cache.ts';
import type { CacheOptions as CacheOwnOptions } from './cache/options.ts';
import { withDiagnostics, type DiagnosticsOption } from './telemetry/diagnostics.ts';
import { instrumentCache } from './telemetry/otel-metrics.ts';
import { otelTracing } from './telemetry/otel-tracing.ts';

/** What every cache gets unless its options say otherwise: spans and metrics on the global OpenTelemetry providers (no-ops without an SDK), and the diagnostics channels. */
const SPANS = otelTracing();
const DEFAULTS: CacheDefaults = { tracing: SPANS, instrument: instrumentCache };

/** The options of `createCache`: the cache's own, and `diagnostics`. */
export interface CacheOptions extends CacheOwnOptions, DiagnosticsOption {}

/** Creates a cache. Throws CacheOptionError, naming the option, when an option is invalid. */
export function createCache<V>(options: CacheOptions): Cache<V> {
  return new Cache<V>(withDiagnostics(options, SPANS), DEFAULTS);
}

export type { Cache, CacheStats, CacheView, EntryOptions } from './cache/cache.ts';
export type { InvalidateOptions } from './cache/invalidate-options.ts';
export type { VerifyOptions } from './cache/verifier.ts';
export type { ViolationIncident } from './projections/incidents.ts';
export type { MetricsOptions } from './cache/options.ts';
export type { SizeOf } from './cache/bound-options.ts';
export type { EvictionPolicy } from './core/state.ts';
export { AckTimeoutError, CacheClosedError, CacheKeyError, CacheOptionError, InvalidationTimeoutError, LoadTimeoutError, TransportClosedError, UndeliveredInvalidationsError } from './cache/errors.ts';
export type { Loader, LoadContext, SyncLoader } from './cache/load-runner.ts';
export type { CacheTracing, TracedCache, TraceHooks } from './cache/tracing.ts';
export type * from './core/events.ts';
export type { AckOperation } from './core/effects.ts';
export { replay } from './core/snapshot.ts';
export type { CacheSnapshot, EntrySnapshot, LoadSnapshot, ReplaySettings } from './core/snapshot.ts';
export type { Listener, Unsubscribe } from './projections/listeners.ts';
export type { RecordedEvent } from './projections/recorder.ts';
export { replayStats } from './projections/stats.ts';
export type { CacheCounters } from './projections/stats.ts';
export { LEGACY_CHANNEL } from './protocol/legacy.ts';
export { PROTOCOL_VERSION, DEFAULT_LIMITS } from './protocol/message.ts';
export type { InvalidationMessage, InvalidationOp, LimitsInput, ProtocolLimits, Secret } from './protocol/message.ts';
export type {
  Transport,
  TransportStatus,
  TransportStatusChange,
  TransportStatusReason,
  TransportSubscription,
  TransportLog,
  LogRead,
  DeliveredPosition,
  PublishKind,
  PayloadListener,
  StatusListener,
} from './transports/transport.ts';
export type { LogRetention } from './transports/channel-log.ts';
export { MemoryBus } from './transports/memory.ts';
export type { MemoryTransport, MemoryBusOptions } from './transports/memory.ts';
export { redisTransport, PublishTimeoutError } from './transports/redis.ts';
export type { RedisTransport, RedisTransportOptions } from './transports/redis.ts';
export { clusterTransport, installClusterRelay, isClusterTransportMessage, CLUSTER_IPC_MARKER, LogReadTimeoutError } from './transports/cluster.ts';
export type { ClusterTransport, ClusterTransportOptions, ClusterRelayOptions } from './transports/cluster.ts';
export { dropClosedCaches, instrumentCache, METER_NAME } from './telemetry/otel-metrics.ts';
export type { CollectingReader } from './telemetry/otel-metrics.ts';
export { otelTracing, traceReads, TRACER_NAME } from './telemetry/otel-tracing.ts';
export type { OtelTracingOptions } from './telemetry/otel-tracing.ts';
export { DIAGNOSTICS_CHANNELS } from './telemetry/diagnostics.ts';
export type { DiagnosticsOptions, LoadDiagnostics, PublishDiagnostics } from './telemetry/diagnostics.ts';
export { METRICS, COUNTERS, GAUGES, HISTOGRAMS } from './telemetry/catalogue.ts';
export type { Metric, CounterMetric, GaugeMetric, HistogramMetric, Labels, Point } from './telemetry/catalogue.ts';
