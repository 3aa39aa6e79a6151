/**
 * The options of `createCache`, their defaults, and their validation: a wrong
 * option throws at construction with a message that names it.
 */
import type { MeterProvider } from '@opentelemetry/api';
import { CacheOptionError } from './errors.ts';
import { MAX_NAME_LENGTH, MAX_TRACEPARENT_LENGTH, PROTOCOL_VERSION, resolveLimits, type LimitsInput, type ProtocolLimits, type Secret } from '../protocol/message.ts';
import type { Policy } from '../core/state.ts';
import type { CacheTracing } from './tracing.ts';
import type { Transport } from '../transports/transport.ts';
import type { VerifyOptions } from './verifier.ts';
import { describe, integerIn, nonNegativeMs, positiveMs, timerMs } from './validate.ts';
import { boundOptions, type BoundOptions, type SizeOf } from './bound-options.ts';
import { loadOptions, type LoadOptions } from './load-options.ts';
import type { EvictionPolicy } from '../core/state.ts';

/** Where OpenTelemetry metrics go. */
export interface MetricsOptions {
  /** Default: the global MeterProvider (start the SDK before creating caches, or pass one). */
  meterProvider?: MeterProvider;
}

export interface CacheOptions {
  /** Required. Names the cache in telemetry and in its transport channel: 1 to 100 of `A-Z a-z 0-9 . _ : -`. */
  name: string;
  /** How long a stored value stays fresh, in ms. Default 60 000. */
  ttl?: number;
  /** Most entries kept; storing one more evicts one, in the `eviction` policy's order. Default 10 000. */
  maxEntries?: number;
  /**
   * Most total size of the values kept, as `sizeOf` measures them (bytes,
   * usually): storing past it evicts until the new value fits, and a value
   * larger than maxSize by itself is not stored (a `store.refused` event).
   * Needs `sizeOf`. Default: no size bound.
   */
  maxSize?: number;
  /** Measures a value for `maxSize`: a whole number ≥ 0 (a TypeError otherwise). Called once per stored value, never on a hit. */
  sizeOf?: SizeOf;
  /**
   * Which value makes room: `lru`, the least recently used; `sieve`, SIEVE
   * (a hit marks its entry, and a hand sweeping from the oldest spares marked
   * entries once), which keeps hot keys through scans. Default `lru`.
   */
  eviction?: EvictionPolicy;
  /** Moves each stored value's ttl by a random amount up to ± this, in ms (at most half the ttl), so instances that loaded a key together do not expire it together. Default 0. */
  ttlJitter?: number;
  /** How long after expiry a value may still be served when its loader fails or times out, in ms. Default 0 (never). */
  staleIfError?: number;
  /**
   * How long after expiry `get` still answers with the value at once while one
   * background load revalidates it, in ms (never an invalidated value, never
   * past degradedTtl's bound). Default 0 (the read waits for its loader).
   */
  staleWhileRevalidate?: number;
  /** The fraction of a value's ttl (0 < f < 1) after which a `get` hit starts one background reload; the hit still serves the current value. Default: off. */
  refreshAhead?: number;
  /** How long a `get` waits for its loader before rejecting with LoadTimeoutError, in ms. Default: no limit. */
  loadTimeout?: number;
  /**
   * How stale the clock reading of the hit path may be, in ms (at most one
   * `Date.now()` per this period); 0 reads the clock on every hit. Default: 1
   * without a transport; 0 with one, whose lease must be judged against true
   * time: a cached reading can be as old as the longest synchronous turn or
   * stall of the process, and the staleness bound stretches by as much.
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
  /**
   * With both `secret` and `legacyChannel`: also accept the legacy format's
   * messages, which cannot be signed, so anyone who can publish on the legacy
   * channel can drop entries. Refused unless set to true. Default false.
   */
  acceptUnsignedLegacy?: boolean;
  /**
   * The staleness bound, in ms: no read returns a value older than a write
   * acknowledged by `invalidate()` by more than this, whatever fails. Entries
   * are served under a lease this long that the instance's own heartbeats
   * renew; while the link is down, no value lives longer. Default 5 000.
   */
  degradedTtl?: number;
  /** How often the cache sends a heartbeat through its channel to renew its lease, in ms; at most half of degradedTtl. Default degradedTtl / 4, at most 1 000. */
  beatInterval?: number;
  /** How long `invalidate()` waits for its message to be accepted (retries included) before rejecting with InvalidationTimeoutError, in ms; the key stays queued. Default 2 000. */
  invalidateTimeout?: number;
  /** How long `close()` tries to deliver queued invalidations before giving them up and rejecting with UndeliveredInvalidationsError, in ms. Default 2 000. */
  closeTimeout?: number;
  /** Most keys kept for a retry after failed publishes; beyond it one `clear` is sent instead. Default 10 000. */
  maxQueuedKeys?: number;
  /** The longest wait between retries of failed publishes, in ms (a retry also runs as soon as the transport can publish again). Default 1 000. */
  retryInterval?: number;
  /** Limits on messages sent and accepted (bytes, keys per message, key length). */
  messageLimits?: LimitsInput;
  /** Spans of loads, publishes and received messages. Default: `otelTracing()` on the global TracerProvider; `false` for none. */
  tracing?: CacheTracing | false;
  /** OpenTelemetry metrics. Default: the global MeterProvider (no-op without an SDK); `false` for none. */
  metrics?: MetricsOptions | false;
  /** Re-load a sample of the hits off the hot path and report values their loader contradicts (`coherence.violation`). Default: off. */
  verify?: VerifyOptions;
}

/** Options after defaults, as the cache uses them. */
export interface ResolvedOptions extends BoundOptions, LoadOptions {
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
  readonly acceptUnsignedLegacy: boolean;
  readonly degradedTtl: number;
  readonly beatInterval: number;
  readonly invalidateTimeout: number;
  readonly closeTimeout: number;
  readonly maxQueuedKeys: number;
  readonly retryInterval: number;
  readonly messageLimits: ProtocolLimits;
  /** `undefined`: the default (the caller of `resolveOptions` supplies it). */
  readonly tracing: CacheTracing | false | undefined;
  readonly metrics: MetricsOptions | false;
  readonly verify: VerifyOptions | undefined;
}

export const DEFAULTS = {
  ttl: 60_000,
  maxEntries: 10_000,
  staleIfError: 0,
  clockResolution: 1,
  recentEvents: 256,
  channelPrefix: 'coherent-cache:',
  degradedTtl: 5_000,
  invalidateTimeout: 2_000,
  closeTimeout: 2_000,
  maxQueuedKeys: 10_000,
  retryInterval: 1_000,
} as const;

const NAME_PATTERN = /^[A-Za-z0-9._:-]{1,100}$/;
const KNOWN = new Set<string>([
  'name',
  'ttl',
  'maxEntries',
  'maxSize',
  'sizeOf',
  'eviction',
  'ttlJitter',
  'staleIfError',
  'staleWhileRevalidate',
  'refreshAhead',
  'loadTimeout',
  'clockResolution',
  'recentEvents',
  'onListenerError',
  'transport',
  'channelPrefix',
  'legacyChannel',
  'secret',
  'acceptUnsignedLegacy',
  'degradedTtl',
  'beatInterval',
  'invalidateTimeout',
  'closeTimeout',
  'maxQueuedKeys',
  'retryInterval',
  'messageLimits',
  'tracing',
  'metrics',
  'verify',
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
  // At least 2 ms: a heartbeat must fit in half of it.
  const degradedTtl = integerIn('degradedTtl', options.degradedTtl ?? DEFAULTS.degradedTtl, 2, 2 ** 31 - 1);
  const channelPrefix = channelName('channelPrefix', options.channelPrefix ?? DEFAULTS.channelPrefix, 0);
  const secret = secretOption(options.secret);
  return {
    name,
    ttl: positiveMs('ttl', options.ttl ?? DEFAULTS.ttl),
    maxEntries: integerIn('maxEntries', options.maxEntries ?? DEFAULTS.maxEntries, 1, 2 ** 30),
    ...boundOptions(options),
    ...loadOptions(options),
    staleIfError: nonNegativeMs('staleIfError', options.staleIfError ?? DEFAULTS.staleIfError),
    loadTimeout: options.loadTimeout === undefined ? undefined : timerMs('loadTimeout', options.loadTimeout),
    clockResolution: integerIn('clockResolution', options.clockResolution ?? (options.transport === undefined ? DEFAULTS.clockResolution : 0), 0, 1000),
    recentEvents: integerIn('recentEvents', options.recentEvents ?? DEFAULTS.recentEvents, 0, 100_000),
    onListenerError,
    transport: transportOption(options.transport),
    channelPrefix,
    legacyChannel: legacyChannelOption(options, channelPrefix + name, secret),
    secret,
    acceptUnsignedLegacy: options.acceptUnsignedLegacy ?? false,
    degradedTtl,
    beatInterval: beatIntervalOption(options.beatInterval, degradedTtl),
    invalidateTimeout: timerMs('invalidateTimeout', options.invalidateTimeout ?? DEFAULTS.invalidateTimeout),
    closeTimeout: timerMs('closeTimeout', options.closeTimeout ?? DEFAULTS.closeTimeout),
    maxQueuedKeys: integerIn('maxQueuedKeys', options.maxQueuedKeys ?? DEFAULTS.maxQueuedKeys, 1, 10_000_000),
    retryInterval: timerMs('retryInterval', options.retryInterval ?? DEFAULTS.retryInterval),
    messageLimits: limitsOption(options.messageLimits),
    tracing: tracingOption(options.tracing),
    metrics: metricsOption(options.metrics),
    verify: verifyOption(options.verify),
  };
}

/** A heartbeat often enough that a lease (degradedTtl long) is renewed before it lapses, with a round trip to spare. */
function beatIntervalOption(value: unknown, degradedTtl: number): number {
  const half = Math.floor(degradedTtl / 2);
  if (value === undefined) return Math.max(1, Math.min(1_000, Math.floor(degradedTtl / 4)));
  const interval = timerMs('beatInterval', value);
  if (interval > half) throw new CacheOptionError('beatInterval', `must be at most half of degradedTtl (${half} ms), or leases lapse between heartbeats; got ${interval}`);
  return interval;
}

/**
 * The legacy channel: not the cache's own, and refused with a secret unless
 * unsigned legacy messages are accepted explicitly (they cannot be signed).
 */
function legacyChannelOption(options: CacheOptions, ownChannel: string, secret: Secret | undefined): string | undefined {
  const accept = options.acceptUnsignedLegacy;
  if (accept !== undefined && typeof accept !== 'boolean') throw new CacheOptionError('acceptUnsignedLegacy', `must be true or false, got ${describe(accept)}`);
  if (options.legacyChannel === undefined) return undefined;
  const legacy = channelName('legacyChannel', options.legacyChannel, 1);
  if (legacy === ownChannel) throw new CacheOptionError('legacyChannel', `must differ from the cache's own channel ${JSON.stringify(ownChannel)}`);
  if (secret !== undefined && accept !== true) {
    throw new CacheOptionError(
      'legacyChannel',
      'with a secret would accept unsigned legacy messages, which anyone who can publish there could forge; set acceptUnsignedLegacy: true to accept that, or drop legacyChannel',
    );
  }
  return legacy;
}

function verifyOption(value: unknown): VerifyOptions | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CacheOptionError('verify', `must be { sampleRate, compare?, allowKeys? }, got ${describe(value)}`);
  const { sampleRate, compare, allowKeys, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw new CacheOptionError('verify', `has only sampleRate, compare and allowKeys, got ${describe(unknown)}`);
  if (typeof sampleRate !== 'number' || !(sampleRate > 0 && sampleRate <= 1)) throw new CacheOptionError('verify', `sampleRate must be a number in (0, 1], got ${describe(sampleRate)}`);
  if (compare !== undefined && typeof compare !== 'function') throw new CacheOptionError('verify', `compare must be a function, got ${describe(compare)}`);
  if (allowKeys !== undefined && typeof allowKeys !== 'boolean') throw new CacheOptionError('verify', `allowKeys must be true or false, got ${describe(allowKeys)}`);
  return value as VerifyOptions;
}

function metricsOption(value: unknown): MetricsOptions | false {
  if (value === undefined) return {};
  if (value === false) return false;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  throw new CacheOptionError('metrics', `must be false or { meterProvider }, got ${describe(value)}`);
}

function tracingOption(value: unknown): CacheTracing | false | undefined {
  if (value === undefined || value === false) return value;
  if (typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)['attach'] === 'function') {
    return value as CacheTracing;
  }
  throw new CacheOptionError('tracing', `must be false or a CacheTracing (an object with attach()), e.g. otelTracing(), got ${describe(value)}`);
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

const LIMIT_NAMES: readonly string[] = ['maxMessageBytes', 'maxKeysPerMessage', 'maxKeyLength'] satisfies readonly (keyof ProtocolLimits)[];

/**
 * The message limits, refused at construction when they are not an object of
 * known limits, when a limit is not a positive whole number, or when they
 * cannot work: `maxMessageBytes` too small for a del message carrying one key
 * of `maxKeyLength` characters (such a key could then never be invalidated),
 * or above 1 MiB (too close to what makes Redis drop its subscribers).
 */
function limitsOption(value: unknown): ProtocolLimits {
  if (value === undefined) return resolveLimits();
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CacheOptionError('messageLimits', `must be an object with any of ${LIMIT_NAMES.join(', ')}, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!LIMIT_NAMES.includes(key)) {
      throw new CacheOptionError('messageLimits', `must only have ${LIMIT_NAMES.join(', ')}, got an unknown limit ${describe(key)}`);
    }
  }
  for (const name of LIMIT_NAMES) {
    const limit: unknown = (value as Record<string, unknown>)[name];
    if (limit !== undefined && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1)) {
      throw new CacheOptionError('messageLimits', `${name} must be a whole number from 1 to ${Number.MAX_SAFE_INTEGER}, got ${describe(limit)}`);
    }
  }
  const limits = resolveLimits(value);
  if (limits.maxMessageBytes > MAX_MESSAGE_BYTES) {
    throw new CacheOptionError(
      'messageLimits',
      `maxMessageBytes must be at most ${MAX_MESSAGE_BYTES} (1 MiB), got ${limits.maxMessageBytes}: Redis drops every subscriber ` +
        'whose pub/sub output buffer passes its limit (32 MB by default, 8 MB for a minute), and this library must never be what sends it there',
    );
  }
  const needed = worstCaseDelBytes(limits.maxKeyLength);
  if (limits.maxMessageBytes < needed) {
    const longestKey = Math.floor((limits.maxMessageBytes - worstCaseDelBytes(0)) / MAX_KEY_BYTES_PER_UNIT);
    throw new CacheOptionError(
      'messageLimits',
      `maxMessageBytes ${limits.maxMessageBytes} cannot carry one key of maxKeyLength ${limits.maxKeyLength}: ` +
        `a del message with one such key can take ${needed} bytes (${MAX_KEY_BYTES_PER_UNIT} per key character, ` +
        `the longest JSON escape, plus ${worstCaseDelBytes(0)} for the rest of the message); ` +
        `expected maxMessageBytes of at least ${needed}` +
        (longestKey >= 1 ? `, or a maxKeyLength of at most ${longestKey}` : ''),
    );
  }
  return limits;
}

/** The largest maxMessageBytes accepted: far below what makes Redis drop its pub/sub subscribers (`client-output-buffer-limit pubsub 32mb 8mb 60`). */
const MAX_MESSAGE_BYTES = 1 << 20;
/** A key's UTF-16 unit takes at most 6 bytes in JSON: a control character or a lone surrogate is written `\uXXXX`. */
const MAX_KEY_BYTES_PER_UNIT = 6;
/** A traceparent receivers accept is printable ASCII: at most 2 bytes a character (`"` and `\` are escaped). */
const MAX_TRACEPARENT_BYTES_PER_CHAR = 2;
/** The widest `sentAt` a publisher writes: ECMAScript's largest time value, 8.64e15 ms. */
const MAX_SENT_AT_DIGITS = String(8.64e15).length;
/** `sig`: the lowercase hex of an HMAC-SHA256 (32 bytes). */
const SIG_HEX_LENGTH = 64;
/**
 * A signed del message with one key, every string empty and `sentAt` 0, in the
 * writer's field order: the bytes around the variable parts (less the "0").
 */
const DEL_FRAME_BYTES =
  JSON.stringify({ v: PROTOCOL_VERSION, cache: '', op: 'del', keys: [''], origin: '', sentAt: 0, traceparent: '', sig: '' }).length - 1;

/**
 * The most bytes a del message with one key of `keyLength` characters can
 * take: the frame; `cache` and `origin` of MAX_NAME_LENGTH characters each
 * (what receivers accept; this library writes its name, of A-Z a-z 0-9 . _ : -,
 * and `inst_` + hex, neither ever escaped, so one byte a character);
 * the widest `sentAt`; the longest traceparent, every character escaped; a
 * signature; and the key, every character escaped.
 */
function worstCaseDelBytes(keyLength: number): number {
  return (
    DEL_FRAME_BYTES +
    2 * MAX_NAME_LENGTH +
    MAX_SENT_AT_DIGITS +
    MAX_TRACEPARENT_BYTES_PER_CHAR * MAX_TRACEPARENT_LENGTH +
    SIG_HEX_LENGTH +
    MAX_KEY_BYTES_PER_UNIT * keyLength
  );
}

/** The settings `decide` reads, from the resolved options. */
export function policyOf(options: ResolvedOptions, instanceId: string): Policy {
  return {
    name: options.name,
    instanceId,
    maxEntries: options.maxEntries,
    maxSize: options.maxSize,
    eviction: options.eviction,
    staleIfError: options.staleIfError,
    staleWhileRevalidate: options.staleWhileRevalidate,
    refreshAhead: options.refreshAhead,
    loadTimeout: options.loadTimeout,
    degradedTtl: options.degradedTtl,
    maxQueuedKeys: options.maxQueuedKeys,
    retryInterval: options.retryInterval,
    logged: options.transport?.log !== undefined,
  };
}
