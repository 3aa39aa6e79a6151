/**
 * The tracing seam: where the cache opens spans (around a load, a publish, the
 * processing of a received message) without knowing about OpenTelemetry. The
 * default does nothing; telemetry/otel.ts provides the OpenTelemetry one.
 */

export interface LoadSpan {
  /** Runs the loader inside the span's context, so the loader's own spans are its children. */
  run<T>(loader: () => T): T;
  end(outcome: 'ok' | 'error' | 'timeout', waiters: number, error?: unknown): void;
}

export interface PublishSpan {
  /** W3C traceparent of the span, carried in the message so receivers can link to it. */
  readonly traceparent: string | undefined;
  end(error?: unknown): void;
}

export interface ReceiveSpan {
  end(): void;
}

export interface ReceivedMessage {
  readonly channel: string;
  readonly origin: string;
  readonly clear: boolean;
  readonly keys: number;
  readonly traceparent: string | undefined;
}

export interface CacheTracing {
  startLoad(cacheName: string, key: string): LoadSpan;
  startPublish(cacheName: string, channel: string, keys: number, clear: boolean): PublishSpan;
  startReceive(cacheName: string, message: ReceivedMessage): ReceiveSpan;
}

const NOOP_LOAD: LoadSpan = { run: (loader) => loader(), end: () => undefined };
const NOOP_PUBLISH: PublishSpan = { traceparent: undefined, end: () => undefined };
const NOOP_RECEIVE: ReceiveSpan = { end: () => undefined };

export const NO_TRACING: CacheTracing = {
  startLoad: () => NOOP_LOAD,
  startPublish: () => NOOP_PUBLISH,
  startReceive: () => NOOP_RECEIVE,
};
