/**
 * `node:diagnostics_channel`, for APM agents (dd-trace, Sentry, OpenTelemetry
 * instrumentations) that subscribe there rather than to a library's API. Like
 * the spans, a projection of the cache's events, attached from outside
 * through the tracing seam:
 *
 * - `coherent-cache:load`, a TracingChannel. The loader runs inside
 *   `start.runStores(context)`, what `traceSync` / `tracePromise` do, so the
 *   stores an agent binds to the start (its span) are active in the loader and
 *   the loader's own I/O nests under it. The rest comes from the events: `end`
 *   when the loader returned (or threw), then `error` (if it failed),
 *   `asyncStart` and `asyncEnd` when `loaded` or `load.timedout` says how it
 *   ended. `tracePromise` itself is not used: it would put the loaded value in
 *   `context.result` and the error, whose message may quote a value, in
 *   `context.error`.
 * - `coherent-cache:publish`, a TracingChannel for each send of invalidations:
 *   `start` and `end` when it opens, `error`, `asyncStart`, `asyncEnd` when its
 *   `published` or `publish.failed` arrives. No stores are entered: the send
 *   is not a function the seam wraps.
 * - `coherent-cache:message` per `message.received`, `coherent-cache:link` per
 *   `link.changed` (plain channels).
 *
 * Nothing is built while a channel has no subscriber (`hasSubscribers` is read
 * first, as lru-cache and undici do), and hits are not published: observing
 * them would take every hit off the inlined hot path. Payloads carry the
 * cache's name and event fields, never a value, errors by class name only,
 * keys only with `recordKeys`.
 */
import dc from 'node:diagnostics_channel';
import { CacheOptionError, errorType } from '../cache/errors.ts';
import type { CacheOptions } from '../cache/options.ts';
import type { CacheTracing, TracedCache, TraceHooks } from '../cache/tracing.ts';
import { describe } from '../cache/validate.ts';

/** The channel names (TracingChannels publish on `tracing:<name>:start` and so on). */
export const DIAGNOSTICS_CHANNELS = {
  load: 'coherent-cache:load',
  publish: 'coherent-cache:publish',
  message: 'coherent-cache:message',
  link: 'coherent-cache:link',
} as const;

export interface DiagnosticsOptions {
  /**
   * Put keys in the payloads: `true` as is, or a function that returns what to
   * publish (or undefined to leave a key out). Off by default: keys can be sensitive.
   */
  recordKeys?: boolean | ((key: string) => string | undefined);
}

/** The context of one load, the same object from `start` to `asyncEnd` (subscribers may keep their state on it). */
export interface LoadDiagnostics {
  cache: string;
  loadId: number;
  /** A `getSync` load: `start`, then `error` if it threw, then `end`. */
  sync: boolean;
  /** The ttl its value will be stored with (ms). */
  ttl: number;
  /** Only with `recordKeys`. */
  key?: string;
  /** How it ended for its callers; from `asyncStart` (or `error` for a sync load). */
  outcome?: 'ok' | 'error' | 'timeout';
  durationMs?: number;
  waiters?: number;
  servedStale?: boolean;
  /** The error's class name, never its message. */
  errorName?: string;
}

/** The context of one send of invalidations. */
export interface PublishDiagnostics {
  cache: string;
  channel: string;
  /** `Transport.kind`: `redis`, `cluster-ipc`, `memory`. */
  transport: string | undefined;
  /** From `asyncStart` on: messages sent (0 when it failed). */
  messages?: number;
  keyCount?: number;
  clear?: boolean;
  /** Only with `recordKeys`. */
  keys?: string[];
  errorName?: string;
  /** It failed and the retry queue overflowed into one clear. */
  overflowed?: boolean;
}

const loadChannel = dc.tracingChannel<unknown, LoadDiagnostics>(DIAGNOSTICS_CHANNELS.load);
const publishChannel = dc.tracingChannel<unknown, PublishDiagnostics>(DIAGNOSTICS_CHANNELS.publish);
const messageChannel = dc.channel(DIAGNOSTICS_CHANNELS.message);
const linkChannel = dc.channel(DIAGNOSTICS_CHANNELS.link);

/** The projection on its own: a `CacheTracing` whose hooks run loaders in the load channel's stores. */
export function diagnosticsChannels(options: DiagnosticsOptions = {}): CacheTracing {
  const keyOf = options.recordKeys === true ? (key: string) => key : typeof options.recordKeys === 'function' ? options.recordKeys : undefined;
  return { attach: (cache) => attachChannels(cache, keyOf) };
}

/** A load being traced, and whether its loader already ended it by throwing. */
interface TracedLoad {
  readonly context: LoadDiagnostics;
  threw: boolean;
}

function attachChannels(cache: TracedCache, keyOf: ((key: string) => string | undefined) | undefined): TraceHooks {
  const cacheName = cache.name;
  const loads = new Map<number, TracedLoad>();
  /** Contexts of the sends in flight, oldest first (undefined: nobody subscribed when it opened). The outbox sends one batch at a time, so each settles before the next opens. */
  const publishes: (PublishDiagnostics | undefined)[] = [];

  const endLoad = (loadId: number, outcome: 'ok' | 'error' | 'timeout', fields: Partial<LoadDiagnostics>): void => {
    const load = loads.get(loadId);
    if (load === undefined) return;
    loads.delete(loadId);
    const { context } = load;
    Object.assign(context, fields, { outcome });
    // A sync load, or one whose loader threw, already published end (and error).
    if (context.sync || load.threw) {
      if (context.sync && outcome !== 'ok' && !load.threw) loadChannel.error.publish(context);
      return;
    }
    if (outcome !== 'ok') loadChannel.error.publish(context);
    loadChannel.asyncStart.publish(context);
    loadChannel.asyncEnd.publish(context);
  };

  const endPublish = (fields: Omit<PublishDiagnostics, 'cache' | 'channel' | 'transport'>, keys: readonly string[]): void => {
    const context = publishes.shift();
    if (context === undefined) return;
    Object.assign(context, fields);
    if (keyOf !== undefined) context.keys = recorded(keys, keyOf);
    if (fields.errorName !== undefined) publishChannel.error.publish(context);
    publishChannel.asyncStart.publish(context);
    publishChannel.asyncEnd.publish(context);
  };

  const stops = [
    cache.on('load.started', (event) => {
      if (!loadChannel.hasSubscribers) return;
      const context: LoadDiagnostics = { cache: cacheName, loadId: event.loadId, sync: event.sync, ttl: event.ttl };
      const key = keyOf?.(event.key);
      if (key !== undefined) context.key = key;
      loads.set(event.loadId, { context, threw: false });
    }),
    cache.on('loaded', (event) =>
      endLoad(event.loadId, event.outcome, {
        durationMs: event.durationMs,
        waiters: event.waiters,
        servedStale: event.servedStale,
        ...(event.errorName === undefined ? {} : { errorName: event.errorName }),
      }),
    ),
    cache.on('load.timedout', (event) => endLoad(event.loadId, 'timeout', { waiters: event.waiters, servedStale: event.servedStale, errorName: 'LoadTimeoutError' })),
    cache.on('published', (event) => endPublish({ messages: event.messages, keyCount: event.keys.length, clear: event.clear }, event.keys)),
    cache.on('publish.failed', (event) =>
      endPublish({ messages: 0, keyCount: event.keys.length, clear: event.clear, errorName: event.errorName, overflowed: event.overflowed }, event.keys),
    ),
    cache.on('message.received', (event) => {
      if (!messageChannel.hasSubscribers) return;
      const { remote } = event;
      messageChannel.publish({
        cache: cacheName,
        at: event.at,
        channel: event.channel,
        transport: cache.transportKind,
        format: event.format,
        op: event.op,
        keys: event.keys,
        remote: { instance: remote.instance, sentAt: remote.sentAt, traceparent: remote.traceparent },
      });
    }),
    cache.on('link.changed', (event) => {
      if (!linkChannel.hasSubscribers) return;
      linkChannel.publish({
        cache: cacheName,
        at: event.at,
        state: event.state,
        reason: event.reason,
        leaseUntil: event.leaseUntil,
        since: event.since,
        entriesExpireBy: event.entriesExpireBy,
      });
    }),
  ];

  return {
    runLoader: (loadId, loader) => {
      const load = loads.size === 0 ? undefined : loads.get(loadId);
      if (load === undefined) return loader();
      const { context } = load;
      return loadChannel.start.runStores(context, () => {
        try {
          const result = loader();
          // A sync load ends here: its end says how.
          if (context.sync) context.outcome = 'ok';
          return result;
        } catch (error) {
          load.threw = true;
          context.outcome = 'error';
          context.errorName = errorType(error);
          loadChannel.error.publish(context);
          throw error;
        } finally {
          loadChannel.end.publish(context);
        }
      });
    },
    openPublish: (channel) => {
      if (!publishChannel.hasSubscribers) {
        publishes.push(undefined);
        return undefined;
      }
      const context: PublishDiagnostics = { cache: cacheName, channel, transport: cache.transportKind };
      publishes.push(context);
      publishChannel.start.publish(context);
      publishChannel.end.publish(context);
      return undefined;
    },
    detach: () => {
      for (const stop of stops) stop();
      loads.clear();
      publishes.length = 0;
    },
  };
}

function recorded(keys: readonly string[], keyOf: (key: string) => string | undefined): string[] {
  const out: string[] = [];
  for (const key of keys) {
    const shown = keyOf(key);
    if (shown !== undefined) out.push(shown);
  }
  return out;
}

/** The option `createCache` adds to the cache's own. */
export interface DiagnosticsOption {
  /** The diagnostics_channel projection (default on; nothing is built without a subscriber): `{ recordKeys }` to publish keys, `false` for none. */
  diagnostics?: DiagnosticsOptions | false;
}

/**
 * What `createCache` hands the cache: its options without `diagnostics`, the
 * tracing they ask for (`spans` by default, none with `false`) combined with
 * the diagnostics channels unless they are off, both seeing the transport's
 * kind. Options that are not an object, or a `tracing` that is not a
 * CacheTracing, go through unchanged for the cache to refuse, naming them.
 */
export function withDiagnostics(options: CacheOptions & DiagnosticsOption, spans: CacheTracing): CacheOptions {
  if (typeof options !== 'object' || options === null) return options;
  const { diagnostics, ...cacheOptions } = options;
  const channels = diagnosticsOption(diagnostics);
  const given = cacheOptions.tracing ?? spans;
  if (given !== false && typeof (given as Partial<CacheTracing> | null)?.attach !== 'function') return cacheOptions;
  const tracings = [...(given === false ? [] : [given]), ...(channels === false ? [] : [diagnosticsChannels(channels)])];
  const transport: unknown = cacheOptions.transport;
  const kind = typeof transport === 'object' && transport !== null && typeof (transport as { kind?: unknown }).kind === 'string' ? (transport as { kind: string }).kind : undefined;
  return { ...cacheOptions, tracing: tracings.length === 0 ? false : combinedTracing(tracings, kind) };
}

/** The `diagnostics` option: `false`, or `{ recordKeys }`; anything else is refused, naming it. */
export function diagnosticsOption(value: unknown): DiagnosticsOptions | false {
  if (value === undefined) return {};
  if (value === false) return false;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const { recordKeys, ...rest } = value as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length === 0 && (recordKeys === undefined || typeof recordKeys === 'boolean' || typeof recordKeys === 'function')) {
      return recordKeys === undefined ? {} : { recordKeys: recordKeys as NonNullable<DiagnosticsOptions['recordKeys']> };
    }
  }
  throw new CacheOptionError('diagnostics', `must be false or { recordKeys?: boolean | (key) => string | undefined }, got ${describe(value)}`);
}

/**
 * Hooks of several tracings as one: loaders run inside each in turn (the
 * first outermost), and the traceparent a message carries is the first one
 * any of them opened.
 */
export function combinedTracing(tracings: readonly CacheTracing[], transportKind: string | undefined): CacheTracing {
  return {
    attach: (cache) => {
      const seen: TracedCache = { name: cache.name, transportKind: cache.transportKind ?? transportKind, on: (type, listener) => cache.on(type, listener) };
      const hooks = tracings.map((tracing) => tracing.attach(seen));
      if (hooks.length === 1) return hooks[0] as TraceHooks;
      return {
        runLoader: <T>(loadId: number, loader: () => T): T => {
          let run = loader;
          for (let i = hooks.length - 1; i >= 0; i--) {
            const hook = hooks[i] as TraceHooks;
            const inner = run;
            run = () => hook.runLoader(loadId, inner);
          }
          return run();
        },
        openPublish: (channel) => {
          let traceparent: string | undefined;
          for (const hook of hooks) {
            const opened = hook.openPublish(channel);
            traceparent ??= opened;
          }
          return traceparent;
        },
        detach: () => {
          for (const hook of hooks) hook.detach();
        },
      };
    },
  };
}
