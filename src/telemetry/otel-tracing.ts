/**
 * OpenTelemetry spans, projected from the cache's events, for what takes time
 * or crosses processes: a span per load (`load.started` to `loaded`; its key
 * only when the caller opts in, through a sanitizer), a PRODUCER span per
 * publish whose W3C traceparent travels in the message (ended by `published`
 * or `publish.failed`), and a CONSUMER span per `message.received` that
 * continues the publisher's trace and links to its span, so one trace shows
 * the write on A and the drops on B, C.
 * Hits and misses become events on the caller's active span only on request.
 * Never a value: errors are recorded by class name, not message.
 *
 * The PRODUCER and CONSUMER spans follow the OpenTelemetry messaging semantic
 * conventions as of semconv v1.44 (status: development): span name
 * `{messaging.operation.name} {destination}`, and `messaging.system`,
 * `messaging.operation.name`, `messaging.operation.type` and
 * `messaging.destination.name` given when the span starts, so samplers see
 * them. `OTEL_SEMCONV_STABILITY_OPT_IN` is not read: its transition rules are
 * for instrumentations that emitted v1.24 or earlier, which these spans never
 * did, and there is no stable messaging convention yet to opt in to.
 */
import { context, ProxyTracerProvider, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Context, type Span, type SpanContext, type Tracer, type TracerProvider } from '@opentelemetry/api';
import type { Cache } from '../cache/cache.ts';
import type { Unsubscribe } from '../projections/listeners.ts';
import type { CacheTracing, TracedCache, TraceHooks } from '../cache/tracing.ts';

export const TRACER_NAME = 'coherent-cache';

export interface OtelTracingOptions {
  /** Default: the global TracerProvider (a no-op until an SDK registers one). */
  tracerProvider?: TracerProvider;
  /**
   * Put the key on load spans: `true` as is, or a function that returns what to
   * record (or undefined to leave it out). Off by default: keys can be sensitive.
   */
  recordKeys?: boolean | ((key: string) => string | undefined);
}

/** What the API's global proxy delegates to until an SDK registers a provider. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * The tracer to open spans with, looked up per span: `undefined` while no SDK
 * is registered globally, so the cache then skips tracing altogether (a
 * publish and a receive are the latency the library is judged by, and the
 * API's no-op spans still cost a context lookup and an object each). Read per
 * span rather than once, it also follows an SDK that is shut down and
 * replaced (`trace.disable()` starts a new global proxy). A provider given in
 * the options is used as is.
 */
function tracerSource(given: TracerProvider | undefined): () => Tracer | undefined {
  if (given !== undefined) {
    const tracer = given.getTracer(TRACER_NAME);
    return () => tracer;
  }
  let provider: TracerProvider | undefined;
  let tracer: Tracer | undefined;
  return () => {
    const current = trace.getTracerProvider();
    if (current instanceof ProxyTracerProvider && current.getDelegate() === NOOP_PROVIDER) return undefined;
    if (current !== provider) {
      provider = current;
      tracer = current.getTracer(TRACER_NAME);
    }
    return tracer;
  };
}

export function otelTracing(options: OtelTracingOptions = {}): CacheTracing {
  const tracerNow = tracerSource(options.tracerProvider);
  const keyOf = options.recordKeys === true ? (key: string) => key : options.recordKeys === false || options.recordKeys === undefined ? undefined : options.recordKeys;
  return { attach: (cache) => attachSpans(cache, tracerNow, keyOf) };
}

/**
 * `messaging.system` by `Transport.kind`. None of them is a well-known value
 * of the conventions (which then allow a custom one): `redis` as the database
 * conventions name it, `node_cluster_ipc` for node:cluster's IPC channel
 * through the primary, `memory` for the in-process MemoryBus; another kind is
 * used as it is.
 */
const MESSAGING_SYSTEMS: Readonly<Record<string, string>> = { redis: 'redis', 'cluster-ipc': 'node_cluster_ipc', memory: 'memory' };

function messagingSystem(transportKind: string | undefined): string | undefined {
  return transportKind === undefined ? undefined : (MESSAGING_SYSTEMS[transportKind] ?? transportKind);
}

/** The attributes a messaging span starts with (constant per cache and channel). */
function messagingAttributes(system: string | undefined, operation: 'publish' | 'process', channel: string, cacheName: string): Attributes {
  return {
    ...(system === undefined ? {} : { 'messaging.system': system }),
    'messaging.operation.name': operation,
    'messaging.operation.type': operation === 'publish' ? 'send' : 'process',
    'messaging.destination.name': channel,
    'coherent_cache.name': cacheName,
  };
}

/** Spans projected from one cache's events. */
function attachSpans(cache: TracedCache, tracerNow: () => Tracer | undefined, keyOf: ((key: string) => string | undefined) | undefined): TraceHooks {
  const cacheName = cache.name;
  const system = messagingSystem(cache.transportKind);
  /** Start attributes of the messaging spans, by operation, then channel (a cache has one, two with a legacy channel). */
  const startAttributes = { publish: new Map<string, Attributes>(), process: new Map<string, Attributes>() };
  const attributesOf = (operation: 'publish' | 'process', channel: string): Attributes => {
    const byChannel = startAttributes[operation];
    let attributes = byChannel.get(channel);
    if (attributes === undefined) {
      attributes = messagingAttributes(system, operation, channel, cacheName);
      byChannel.set(channel, attributes);
    }
    return attributes;
  };
  /** Load spans by load id, with the context their loader runs in. */
  const loads = new Map<number, { span: Span; context: Context }>();
  /** Publish spans by the traceparent their message carries. */
  const publishes = new Map<string, Span>();

  const endLoad = (loadId: number, outcome: 'ok' | 'error' | 'timeout', waiters: number, errorName: string | undefined): void => {
    const load = loads.get(loadId);
    if (load === undefined) return;
    loads.delete(loadId);
    const { span } = load;
    if (span.isRecording()) {
      span.setAttributes({ 'coherent_cache.load.outcome': outcome, 'coherent_cache.load.waiters': waiters });
      if (errorName !== undefined) failed(span, errorName);
    }
    span.end();
  };

  const endPublish = (traceparent: string | undefined, keys: number, clear: boolean, messages: number, errorName: string | undefined): void => {
    if (traceparent === undefined) return;
    const span = publishes.get(traceparent);
    if (span === undefined) return;
    publishes.delete(traceparent);
    if (span.isRecording()) {
      span.setAttributes({ 'coherent_cache.invalidation.keys': keys, 'coherent_cache.invalidation.clear': clear });
      // The conventions count a batch's messages, and only a batch's: not on a send of one.
      if (messages > 1) span.setAttribute('messaging.batch.message_count', messages);
      if (errorName !== undefined) failed(span, errorName);
    }
    span.end();
  };

  const stops = [
    cache.on('load.started', (event) => {
      const tracer = tracerNow();
      if (tracer === undefined) return;
      const span = tracer.startSpan('coherent_cache.load', { kind: SpanKind.INTERNAL });
      // Attributes only for a span that records: without an SDK this path builds nothing.
      if (span.isRecording()) {
        const recordedKey = keyOf?.(event.key);
        span.setAttributes({
          'coherent_cache.name': cacheName,
          ...(recordedKey === undefined ? {} : { 'coherent_cache.key': recordedKey }),
          // A load no read waits for: refresh (refreshAhead) or swr (staleWhileRevalidate).
          ...(event.reason === undefined ? {} : { 'coherent_cache.load.reason': event.reason }),
        });
      }
      loads.set(event.loadId, { span, context: trace.setSpan(context.active(), span) });
    }),
    // A load that timed out ended its span then; its late end is not a second outcome.
    cache.on('loaded', (event) => endLoad(event.loadId, event.outcome, event.waiters, event.errorName)),
    cache.on('load.timedout', (event) => endLoad(event.loadId, 'timeout', event.waiters, 'LoadTimeoutError')),
    cache.on('published', (event) => endPublish(event.traceparent, event.keys.length, event.clear, event.messages, undefined)),
    cache.on('publish.failed', (event) => endPublish(event.traceparent, event.keys.length, event.clear, 0, event.errorName)),
    cache.on('message.received', (event) => {
      const tracer = tracerNow();
      if (tracer === undefined) return;
      const { remote } = event;
      const publisher = remote.traceparent === undefined ? undefined : parseTraceparent(remote.traceparent);
      const parent = publisher === undefined ? context.active() : trace.setSpanContext(ROOT_CONTEXT, publisher);
      const span = tracer.startSpan(
        `process ${event.channel}`,
        {
          kind: SpanKind.CONSUMER,
          startTime: event.at,
          attributes: attributesOf('process', event.channel),
          ...(publisher === undefined ? {} : { links: [{ context: publisher }] }),
        },
        parent,
      );
      if (span.isRecording()) {
        span.setAttributes({
          'coherent_cache.origin': remote.instance,
          'coherent_cache.invalidation.keys': event.keys,
          'coherent_cache.invalidation.clear': event.op === 'clear',
        });
      }
      span.end();
    }),
  ];

  return {
    runLoader: (loadId, loader) => {
      const load = loads.get(loadId);
      return load === undefined ? loader() : context.with(load.context, loader);
    },
    openPublish: (channel) => {
      const tracer = tracerNow();
      if (tracer === undefined) return undefined;
      const span = tracer.startSpan(`publish ${channel}`, { kind: SpanKind.PRODUCER, attributes: attributesOf('publish', channel) });
      const traceparent = traceparentOf(span.spanContext());
      if (traceparent === undefined) span.end();
      else publishes.set(traceparent, span);
      return traceparent;
    },
    detach: () => {
      for (const stop of stops) stop();
    },
  };
}

/**
 * Records hits and misses as events on the caller's active span (opt-in: it
 * makes the hit path build its event). Returns the function that stops it.
 */
export function traceReads<V>(cache: Cache<V>): Unsubscribe {
  const stopHits = cache.on('hit', () => trace.getActiveSpan()?.addEvent('coherent_cache.hit', { 'coherent_cache.name': cache.name }));
  const stopMisses = cache.on('miss', (event) =>
    trace.getActiveSpan()?.addEvent('coherent_cache.miss', { 'coherent_cache.name': cache.name, 'coherent_cache.miss.reason': event.reason }),
  );
  return () => {
    stopHits();
    stopMisses();
  };
}

function failed(span: Span, type: string): void {
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}


export function traceparentOf(spanContext: SpanContext): string | undefined {
  if (!trace.isSpanContextValid(spanContext)) return undefined;
  const flags = (spanContext.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, '0');
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

export function parseTraceparent(traceparent: string): SpanContext | undefined {
  const match = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})/.exec(traceparent);
  if (match === null) return undefined;
  const spanContext: SpanContext = {
    traceId: match[2] as string,
    spanId: match[3] as string,
    traceFlags: parseInt(match[4] as string, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  return trace.isSpanContextValid(spanContext) ? spanContext : undefined;
}
