/**
 * The options of `createCache`, their defaults, and their validation: a wrong
 * option throws at construction with a message that names it.
 */
import { CacheOptionError } from './errors.ts';
import { resolveLimits, type LimitsInput, type ProtocolLimits, type Secret } from './protocol.ts';
import { otelTracing } from './telemetry/otel-tracing.ts';
import type { OtelMetricsOptions } from './telemetry/otel-metrics.ts';
import { NO_TRACING, type CacheTracing } from './tracing.ts';
import type { Transport } from './transports/transport.ts';

export interface CacheOptions {
  /** Required. Names the cache in telemetry and in its transport channel: 1 to 100 of `A-Z a-z 0-9 . _ : -`. */
  name: string;
  /** How long a stored value stays fresh, in ms. Default 60 000. */
  ttl?: number;
  /** Most entries kept; storing one more evicts the least recently used. Default 10 000. */
  maxEntries?: number;
  /** How long after expiry a value may still be served when its loader fails or times out, in ms. Default 0 (never). */
  staleIfError?: number;
  /** How long a `get` waits for its loader before rejecting with LoadTimeoutError, in ms. Default: no limit. */
  loadTimeout?: number;
  /**
   * How stale the clock reading of the hit path may be, in ms (at most one
   * `Date.now()` per this period). Default 1; 0 reads the clock on every hit.
   */
  clockResolution?: number;
  /** How many recent events (hits excluded, values redacted) `recentEvents()` keeps. Default 256; 0 keeps none. */
  recentEvents?: number;
  /** Called when a listener throws (the cache and the other listeners carry on). Default: one process warning per cache. */
  onListenerError?: (error: unknown, eventType: string) => void;

  /** Carries invalidations to other instances (Redis, node:cluster IPC, in-memory). None: local only. The caller owns it and closes it. */
  transport?: Transport;
  /** Prefix of the cache's channel (`<prefix><name>`). Default `coherent-cache:`. */
  channelPrefix?: string;
  /** Also speak the original module's `{ slotId, _origin }` format on this channel (e.g. LEGACY_CHANNEL), to migrate one process at a time. */
  legacyChannel?: string;
  /** Shared secret: messages are HMAC-signed, and unsigned or forged ones are rejected. */
  secret?: Secret;
  /** While the link to other instances is down, no entry lives longer than this, in ms. Default 5 000. */
  degradedTtl?: number;
  /** Most keys kept for a retry after failed publishes; beyond it one `clear` is sent instead. Default 10 000. */
  maxQueuedKeys?: number;
  /** How often failed publishes are retried, in ms. Default 1 000. */
  retryInterval?: number;
  /** Limits on messages sent and accepted (bytes, keys per message, key length). */
  messageLimits?: LimitsInput;
  /** Spans around loads, publishes and received messages. Default: `otelTracing()` on the global TracerProvider; `false` for none. */
  tracing?: CacheTracing | false;
  /** OpenTelemetry metrics. Default: the global MeterProvider (no-op without an SDK); `false` for none. */
  metrics?: OtelMetricsOptions | false;
}

/** Options after defaults, as the cache uses them. */
export interface ResolvedOptions {
  readonly name: string;
  readonly ttl: number;
  readonly maxEntries: number;
  readonly staleIfError: number;
  readonly loadTimeout: number | undefined;
  readonly clockResolution: number;
  readonly recentEvents: number;
  readonly onListenerError: ((error: unknown, eventType: string) => void) | undefined;
  readonly transport: Transport | undefined;
  readonly channelPrefix: string;
  readonly legacyChannel: string | undefined;
  readonly secret: Secret | undefined;
  readonly degradedTtl: number;
  readonly maxQueuedKeys: number;
  readonly retryInterval: number;
  readonly messageLimits: ProtocolLimits;
  readonly tracing: CacheTracing;
  readonly metrics: OtelMetricsOptions | false;
}

export const DEFAULTS = {
  ttl: 60_000,
  maxEntries: 10_000,
  staleIfError: 0,
  clockResolution: 1,
  recentEvents: 256,
  channelPrefix: 'coherent-cache:',
  degradedTtl: 5_000,
  maxQueuedKeys: 10_000,
  retryInterval: 1_000,
} as const;

const defaultTracing = otelTracing();
const NAME_PATTERN = /^[A-Za-z0-9._:-]{1,100}$/;
// Timers clamp anything longer than a signed 32-bit ms count to 1 ms.
const MAX_TIMER_MS = 2 ** 31 - 1;
const KNOWN = new Set<string>([
  'name',
  'ttl',
  'maxEntries',
  'staleIfError',
  'loadTimeout',
  'clockResolution',
  'recentEvents',
  'onListenerError',
  'transport',
  'channelPrefix',
  'legacyChannel',
  'secret',
  'degradedTtl',
  'maxQueuedKeys',
  'retryInterval',
  'messageLimits',
  'tracing',
  'metrics',
]);

export function resolveOptions(options: CacheOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new CacheOptionError('options', `must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new CacheOptionError(key, 'is not a known option');
  }
  const { name } = options;
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new CacheOptionError('name', `must be 1 to 100 characters of A-Z a-z 0-9 . _ : -, got ${describe(name)}`);
  }
  const onListenerError = options.onListenerError;
  if (onListenerError !== undefined && typeof onListenerError !== 'function') {
    throw new CacheOptionError('onListenerError', `must be a function, got ${describe(onListenerError)}`);
  }
  return {
    name,
    ttl: positiveMs('ttl', options.ttl ?? DEFAULTS.ttl),
    maxEntries: integerIn('maxEntries', options.maxEntries ?? DEFAULTS.maxEntries, 1, 2 ** 30),
    staleIfError: nonNegativeMs('staleIfError', options.staleIfError ?? DEFAULTS.staleIfError),
    loadTimeout: options.loadTimeout === undefined ? undefined : timerMs('loadTimeout', options.loadTimeout),
    clockResolution: integerIn('clockResolution', options.clockResolution ?? DEFAULTS.clockResolution, 0, 1000),
    recentEvents: integerIn('recentEvents', options.recentEvents ?? DEFAULTS.recentEvents, 0, 100_000),
    onListenerError,
    transport: transportOption(options.transport),
    channelPrefix: channelName('channelPrefix', options.channelPrefix ?? DEFAULTS.channelPrefix, 0),
    legacyChannel: options.legacyChannel === undefined ? undefined : channelName('legacyChannel', options.legacyChannel, 1),
    secret: secretOption(options.secret),
    degradedTtl: positiveMs('degradedTtl', options.degradedTtl ?? DEFAULTS.degradedTtl),
    maxQueuedKeys: integerIn('maxQueuedKeys', options.maxQueuedKeys ?? DEFAULTS.maxQueuedKeys, 1, 10_000_000),
    retryInterval: timerMs('retryInterval', options.retryInterval ?? DEFAULTS.retryInterval),
    messageLimits: limitsOption(options.messageLimits),
    tracing: tracingOption(options.tracing),
    metrics: metricsOption(options.metrics),
  };
}

function metricsOption(value: unknown): OtelMetricsOptions | false {
  if (value === undefined) return {};
  if (value === false) return false;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  throw new CacheOptionError('metrics', `must be false or { meterProvider }, got ${describe(value)}`);
}

function tracingOption(value: unknown): CacheTracing {
  if (value === undefined) return defaultTracing;
  if (value === false) return NO_TRACING;
  const methods = ['startLoad', 'startPublish', 'startReceive'];
  if (typeof value === 'object' && value !== null && methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function')) {
    return value as CacheTracing;
  }
  throw new CacheOptionError('tracing', `must be a CacheTracing (startLoad, startPublish, startReceive), e.g. otelTracing(), got ${describe(value)}`);
}

function transportOption(value: unknown): Transport | undefined {
  if (value === undefined) return undefined;
  const methods = ['subscribe', 'publish', 'onStatus', 'close'];
  const isTransport = typeof value === 'object' && value !== null && methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
  if (!isTransport) {
    throw new CacheOptionError('transport', `must be a Transport (subscribe, publish, onStatus, close), got ${describe(value)}`);
  }
  return value as Transport;
}

function channelName(option: string, value: unknown, minLength: number): string {
  if (typeof value !== 'string' || value.length < minLength || value.length > 200 || /\s/.test(value)) {
    throw new CacheOptionError(option, `must be a string of ${minLength} to 200 characters without spaces, got ${describe(value)}`);
  }
  return value;
}

function secretOption(value: unknown): Secret | undefined {
  if (value === undefined) return undefined;
  if ((typeof value === 'string' || value instanceof Uint8Array) && value.length > 0) return value;
  throw new CacheOptionError('secret', `must be a non-empty string or Uint8Array, got ${describe(value)}`);
}

function limitsOption(value: LimitsInput | undefined): ProtocolLimits {
  try {
    return resolveLimits(value);
  } catch (error) {
    throw new CacheOptionError('messageLimits', error instanceof Error ? error.message : String(error));
  }
}

/** A ttl in ms: positive and finite. */
export function positiveMs(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new CacheOptionError(option, `must be a positive, finite number of ms, got ${describe(value)}`);
  }
  return value;
}

export function nonNegativeMs(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new CacheOptionError(option, `must be a finite number of ms ≥ 0, got ${describe(value)}`);
  }
  return value;
}

/** A duration a timer will wait: a positive whole number of ms that setTimeout honours. */
export function timerMs(option: string, value: unknown): number {
  return integerIn(option, value, 1, MAX_TIMER_MS);
}

export function integerIn(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new CacheOptionError(option, `must be a whole number from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

/** A short, value-free description of what was passed: never echoes a long string back. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 40 ? `a ${value.length}-character string` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}
