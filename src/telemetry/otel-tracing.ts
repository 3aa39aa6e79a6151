/**
 * OpenTelemetry spans for what takes time or crosses processes: a span per
 * load (its key only when the caller opts in, through a sanitizer), a PRODUCER
 * span per publish whose W3C traceparent travels in the message, and a
 * CONSUMER span per received message that continues the publisher's trace and
 * links to its span, so one trace shows the write on A and the drops on B, C.
 * Hits and misses become events on the caller's active span only on request.
 * Never a value: errors are recorded by class name, not message.
 */
import { context, ProxyTracerProvider, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Span, type SpanContext, type Tracer, type TracerProvider } from '@opentelemetry/api';
import type { Cache } from '../cache.ts';
import { errorType } from '../errors.ts';
import type { Unsubscribe } from '../listeners.ts';
import { NO_TRACING, type CacheTracing, type LoadSpan, type PublishSpan, type ReceivedMessage, type ReceiveSpan } from '../tracing.ts';

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

  return {
    startLoad(cacheName: string, key: string): LoadSpan {
      const tracer = tracerNow();
      if (tracer === undefined) return NO_TRACING.startLoad(cacheName, key);
      const span = tracer.startSpan('coherent_cache.load', { kind: SpanKind.INTERNAL });
      // Attributes only for a span that records: without an SDK this path builds nothing.
      if (span.isRecording()) {
        const recordedKey = keyOf?.(key);
        span.setAttributes({ 'coherent_cache.name': cacheName, ...(recordedKey === undefined ? {} : { 'coherent_cache.key': recordedKey }) });
      }
      const spanContext = trace.setSpan(context.active(), span);
      return {
        run: (loader) => context.with(spanContext, loader),
        end: (outcome, waiters, error) => {
          if (span.isRecording()) {
            span.setAttributes({ 'coherent_cache.load.outcome': outcome, 'coherent_cache.load.waiters': waiters });
            if (outcome !== 'ok') failed(span, outcome === 'timeout' ? 'LoadTimeoutError' : errorType(error));
          }
          span.end();
        },
      };
    },

    startPublish(cacheName: string, channel: string, keys: number, clear: boolean): PublishSpan {
      const tracer = tracerNow();
      if (tracer === undefined) return NO_TRACING.startPublish(cacheName, channel, keys, clear);
      const span = tracer.startSpan(`publish ${channel}`, { kind: SpanKind.PRODUCER });
      if (span.isRecording()) {
        span.setAttributes({
          'messaging.operation.type': 'send',
          'messaging.destination.name': channel,
          'coherent_cache.name': cacheName,
          'coherent_cache.invalidation.keys': keys,
          'coherent_cache.invalidation.clear': clear,
        });
      }
      return {
        traceparent: traceparentOf(span.spanContext()),
        end: (error) => {
          if (error !== undefined) failed(span, errorType(error));
          span.end();
        },
      };
    },

    startReceive(cacheName: string, message: ReceivedMessage): ReceiveSpan {
      const tracer = tracerNow();
      if (tracer === undefined) return NO_TRACING.startReceive(cacheName, message);
      const publisher = message.traceparent === undefined ? undefined : parseTraceparent(message.traceparent);
      const parent = publisher === undefined ? context.active() : trace.setSpanContext(ROOT_CONTEXT, publisher);
      const span = tracer.startSpan(`process ${message.channel}`, { kind: SpanKind.CONSUMER, ...(publisher === undefined ? {} : { links: [{ context: publisher }] }) }, parent);
      if (span.isRecording()) {
        span.setAttributes({
          'messaging.operation.type': 'process',
          'messaging.destination.name': message.channel,
          'coherent_cache.name': cacheName,
          'coherent_cache.origin': message.origin,
          'coherent_cache.invalidation.keys': message.keys,
          'coherent_cache.invalidation.clear': message.clear,
        });
      }
      return { end: () => span.end() };
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
