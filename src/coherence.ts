/**
 * Keeps one cache coherent with its peers over a Transport. Outgoing: the
 * invalidations of one tick are coalesced into one message (split only to
 * respect the message limits); a failed publish keeps its keys in a bounded,
 * de-duplicated retry queue that overflows into a single `clear`. Incoming:
 * every payload is decoded as hostile input, the cache's own echo is skipped,
 * and each invalidation becomes an event. Link changes become events too: a
 * lost link caps entry lifetimes, and a regained one drops everything cached
 * before (messages may have been lost in the gap).
 */
import type { Clock } from './clock.ts';
import { errorType } from './errors.ts';
import type { CacheEvent, LinkReason, PublishedEvent, RemoteSource } from './events.ts';
import { decodeLegacy, encodeLegacy, type LegacyInvalidationMessage } from './protocol-legacy.ts';
import {
  decodeMessage,
  MessageWriter,
  ProtocolEncodeError,
  type DecodeResult,
  type InvalidationMessage,
  type ProtocolLimits,
  type Secret,
} from './protocol.ts';
import type { CacheTracing } from './tracing.ts';
import type { Transport, TransportStatusChange, TransportSubscription } from './transports/transport.ts';
import { afterThisTick } from './defer.ts';

export interface CoherenceSettings {
  readonly transport: Transport;
  readonly channel: string;
  /** Also speak the original module's format on this channel (migration). */
  readonly legacyChannel: string | undefined;
  readonly secret: Secret | undefined;
  readonly limits: ProtocolLimits;
  readonly degradedTtl: number;
  readonly maxQueuedKeys: number;
  /** How often a non-empty retry queue is retried while nothing else triggers it, in ms. */
  readonly retryInterval: number;
}

/** The parts of the cache coherence needs. */
export interface CoherenceHost<V> {
  readonly cacheName: string;
  readonly instanceId: string;
  readonly clock: Clock;
  emit(event: CacheEvent<V>): void;
  /** Whether anything is cached or loading (a resync of an empty cache is noise). */
  holdsData(): boolean;
  readonly tracing: CacheTracing;
}

interface Batch {
  keys: Set<string>;
  clear: boolean;
}

/** How many published payloads may wait for their echo; past it the oldest is forgotten (its echo is then decoded, and skipped by origin). */
export const MAX_AWAITED_ECHOES = 256;
/**
 * Longest payload remembered (UTF-16 units), so a transport that never echoes
 * (node:cluster IPC) holds at most 256 KiB here. The single-key messages that
 * dominate fit; a big batch is decoded once for all its keys, which is cheap per key.
 */
export const MAX_AWAITED_ECHO_LENGTH = 1024;

export class Coherence<V> {
  private pending: Batch | undefined;
  /** Settles once the pending batch was sent or queued for retry. */
  private pendingDone: Promise<void> | undefined;
  /** Keys whose publish failed; `clear` once it overflowed (a clear covers every key). */
  private readonly queue: Batch = { keys: new Set(), clear: false };
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Flushes running or waiting their turn. */
  private flushes = 0;
  private readonly subscriptions: Promise<TransportSubscription>[] = [];
  private readonly stopStatus: () => void;
  private connected = false;
  /** Every channel subscription is in place: only then can `connected` be believed. */
  private subscribed = false;
  private readyWaiters: PromiseWithResolvers<void> | undefined;
  private closed = false;
  private readonly writer: MessageWriter;
  /**
   * Payloads this instance published whose echo has not come back: Redis
   * sends every message to its publisher too, and recognising an exact copy
   * of what we sent is one Map lookup instead of a decode, on the process
   * that is busiest while its peers handle the message. Value: copies in flight.
   */
  private readonly awaitedEchoes = new Map<string, number>();

  constructor(
    private readonly host: CoherenceHost<V>,
    private readonly settings: CoherenceSettings,
  ) {
    const { transport } = settings;
    // The cache's name and instance id are checked once, here: every message reuses them.
    this.writer = new MessageWriter(host.cacheName, host.instanceId, settings.limits, settings.secret);
    this.stopStatus = transport.onStatus((change) => this.onStatus(change));
    // Until the subscription is in place this instance cannot hear its peers.
    this.degrade('starting');
    const subscribed = [transport.subscribe(settings.channel, (payload) => this.receive(payload, false))];
    if (settings.legacyChannel !== undefined) {
      subscribed.push(transport.subscribe(settings.legacyChannel, (payload) => this.receive(payload, true)));
    }
    this.subscriptions.push(...subscribed);
    Promise.all(subscribed).then(
      () => {
        this.subscribed = true;
        if (transport.status === 'connected') this.connect();
      },
      // A transport that cannot subscribe yet reports 'connected' once it can.
      () => undefined,
    );
  }

  /** Resolves once the link is up (immediately when it is). */
  ready(): Promise<void> {
    if (this.connected) return Promise.resolve();
    this.readyWaiters ??= Promise.withResolvers<void>();
    return this.readyWaiters.promise;
  }

  /** Tells the peers to drop `key`; resolves when the message was sent or queued for retry. */
  publishKey(key: string): Promise<void> {
    const batch = this.pendingBatch();
    if (!batch.clear) batch.keys.add(key);
    return this.pendingDone as Promise<void>;
  }

  /** Tells the peers to drop everything. */
  publishClear(): Promise<void> {
    const batch = this.pendingBatch();
    batch.clear = true;
    batch.keys.clear();
    return this.pendingDone as Promise<void>;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flushNow();
    this.closed = true;
    this.stopStatus();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    // A subscription still pending (the transport never connected) is undone whenever it completes; close does not wait for it.
    const unsubscribed = this.subscriptions.map((pending) =>
      Promise.race([pending.then((subscription) => subscription.unsubscribe()), Promise.resolve()]).catch(() => undefined),
    );
    await Promise.all(unsubscribed);
  }

  /** The batch this tick's invalidations join; the first one of a tick schedules its flush. */
  private pendingBatch(): Batch {
    if (this.pending === undefined) {
      this.pending = { keys: new Set(), clear: false };
      // Everything invalidated in this tick goes out as one message. Its flush
      // may find the batch already sent (by close); it then settles at once.
      this.pendingDone = afterThisTick(this.flushNow);
    }
    return this.pending;
  }

  /** Sends the pending batch together with whatever waits for a retry; one flush at a time. */
  private readonly flushNow = (): Promise<void> => {
    // Straight away when idle (the common case, one promise hop less on every publish); else after the flushes before it.
    this.flushes++;
    this.flushing = this.flushes > 1 ? this.flushing.then(this.sendPending, this.sendPending) : this.sendPending();
    return this.flushing;
  };

  /** One flush: the pending batch and the retry queue, as one send. */
  private readonly sendPending = async (): Promise<void> => {
    try {
      const batch = this.pending ?? { keys: new Set<string>(), clear: false };
      this.pending = undefined;
      this.pendingDone = undefined;
      // Merge the retry queue in: a successful send drains it.
      if (this.queue.clear) batch.clear = true;
      if (batch.clear) batch.keys.clear();
      else for (const key of this.queue.keys) batch.keys.add(key);
      this.queue.keys.clear();
      this.queue.clear = false;
      if (batch.clear || batch.keys.size > 0) await this.send(batch);
    } finally {
      this.flushes--;
    }
  };

  private async send(batch: Batch): Promise<void> {
    const { host, settings } = this;
    const span = host.tracing.startPublish(host.cacheName, settings.channel, batch.clear ? 0 : batch.keys.size, batch.clear);
    const traceparent = span.traceparent;
    let payloads: { v1: string[]; legacy: string[] } | undefined;
    try {
      payloads = this.encode(batch, traceparent);
      const sent = settings.transport.publish(settings.channel, payloads.v1);
      // After the call, which writes to the socket: the bookkeeping is off the path to the peers. An echo
      // cannot arrive before this line unless a transport delivers inside publish(); it is then decoded and
      // skipped by its origin, as an echo that is not awaited always is.
      this.awaitEchoes(payloads.v1);
      await sent;
      if (payloads.legacy.length > 0 && settings.legacyChannel !== undefined) {
        await settings.transport.publish(settings.legacyChannel, payloads.legacy);
      }
    } catch (error) {
      span.end(error);
      if (payloads !== undefined) this.forgetEchoes(payloads.v1);
      this.requeue(batch, error);
      return;
    }
    span.end();
    const at = host.clock.exact();
    const messages = payloads.v1.length;
    const keys = batch.clear ? 0 : batch.keys.size;
    const queueDepth = this.queueDepth();
    // Literals rather than a spread: this runs on every publish.
    const published: PublishedEvent =
      traceparent === undefined
        ? { type: 'published', at, messages, keys, clear: batch.clear, queueDepth }
        : { type: 'published', at, messages, keys, clear: batch.clear, queueDepth, traceparent };
    host.emit(published);
  }

  private requeue(batch: Batch, error: unknown): void {
    const queue = this.queue;
    let overflowed = false;
    if (batch.clear) {
      queue.clear = true;
    } else if (!queue.clear) {
      for (const key of batch.keys) queue.keys.add(key);
      if (queue.keys.size > this.settings.maxQueuedKeys) {
        // Never lose a key silently: one clear covers every key that did not fit.
        overflowed = true;
        queue.clear = true;
      }
    }
    if (queue.clear) queue.keys.clear();
    this.host.emit({
      type: 'publish.failed',
      at: this.host.clock.exact(),
      keys: batch.clear ? 0 : batch.keys.size,
      clear: batch.clear,
      errorName: errorType(error),
      queueDepth: this.queueDepth(),
      overflowed,
    });
    this.scheduleRetry();
  }

  /** What waits for a retry: its keys, or 1 for a pending clear (which replaced them). */
  private queueDepth(): number {
    return this.queue.clear ? 1 : this.queue.keys.size;
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed && (this.queue.clear || this.queue.keys.size > 0)) void this.flushNow();
    }, this.settings.retryInterval);
    this.retryTimer.unref();
  }

  /** One v1 message per chunk of keys that fits the limits; a key too long to send turns the batch into a clear. */
  private encode(batch: Batch, traceparent: string | undefined): { v1: string[]; legacy: string[] } {
    const { host, settings, writer } = this;
    const { limits } = settings;
    const sentAt = host.clock.exact();
    let sendable: string[] | undefined;
    if (!batch.clear) {
      sendable = [];
      for (const key of batch.keys) {
        if (key.length > limits.maxKeyLength) {
          sendable = undefined;
          break;
        }
        sendable.push(key);
      }
    }
    // Every part is already checked (the cache's name, its instance id, key lengths above): only the size is left.
    let v1: string[];
    if (sendable === undefined) {
      v1 = [writer.clear(sentAt, traceparent)];
    } else if (sendable.length <= limits.maxKeysPerMessage) {
      // The common batch fits one message: no chunking.
      v1 = encodeFitting(sendable, writer, sentAt, traceparent);
    } else {
      v1 = [];
      for (let i = 0; i < sendable.length; i += limits.maxKeysPerMessage) {
        v1.push(...encodeFitting(sendable.slice(i, i + limits.maxKeysPerMessage), writer, sentAt, traceparent));
      }
    }
    const legacy =
      settings.legacyChannel === undefined
        ? []
        : encodeLegacy(sendable === undefined ? { op: 'clear', origin: host.instanceId } : { op: 'del', keys: sendable, origin: host.instanceId }, settings.limits);
    return { v1, legacy };
  }

  private awaitEchoes(payloads: readonly string[]): void {
    const awaited = this.awaitedEchoes;
    for (const payload of payloads) {
      if (payload.length > MAX_AWAITED_ECHO_LENGTH) continue;
      awaited.set(payload, (awaited.get(payload) ?? 0) + 1);
      if (awaited.size > MAX_AWAITED_ECHOES) awaited.delete(awaited.keys().next().value as string);
    }
  }

  /** Takes `payload` off the awaited echoes; true when it was one (an exact copy of a message this instance sent). */
  private isEcho(payload: string): boolean {
    const copies = this.awaitedEchoes.get(payload);
    if (copies === undefined) return false;
    if (copies > 1) this.awaitedEchoes.set(payload, copies - 1);
    else this.awaitedEchoes.delete(payload);
    return true;
  }

  private forgetEchoes(payloads: readonly string[]): void {
    for (const payload of payloads) this.isEcho(payload);
  }

  private receive(payload: string, legacy: boolean): void {
    if (this.closed || (!legacy && this.isEcho(payload))) return;
    const { host, settings } = this;
    const at = host.clock.exact();
    const decoded: DecodeResult<InvalidationMessage | LegacyInvalidationMessage> = legacy
      ? decodeLegacy(payload, { cacheName: host.cacheName, limits: settings.limits })
      : decodeMessage(payload, { limits: settings.limits, secret: settings.secret });
    if (!decoded.ok) {
      host.emit({ type: 'message.rejected', at, reason: decoded.reason, detail: decoded.detail });
      return;
    }
    const message = decoded.message;
    if (message.cache !== host.cacheName) {
      host.emit({ type: 'message.rejected', at, reason: 'other-cache', detail: `for cache ${JSON.stringify(message.cache.slice(0, 32))}` });
      return;
    }
    if (message.origin === host.instanceId) return;
    const traceparent = 'legacy' in message ? undefined : message.traceparent;
    const remote: RemoteSource =
      'legacy' in message
        ? { instance: message.origin }
        : traceparent === undefined
          ? { instance: message.origin, sentAt: message.sentAt }
          : { instance: message.origin, sentAt: message.sentAt, traceparent };
    const span = host.tracing.startReceive(host.cacheName, {
      channel: legacy ? (settings.legacyChannel ?? settings.channel) : settings.channel,
      origin: message.origin,
      clear: message.op === 'clear',
      keys: message.op === 'clear' ? 0 : message.keys.length,
      traceparent,
    });
    if (message.op === 'clear') {
      host.emit({ type: 'invalidated', scope: 'all', at, origin: 'remote', reason: 'explicit', remote });
    } else {
      for (const key of message.keys) host.emit({ type: 'invalidated', scope: 'key', key, at, origin: 'remote', reason: 'explicit', remote });
    }
    span.end();
  }

  private onStatus(change: TransportStatusChange): void {
    if (this.closed) return;
    if (change.status === 'connected') this.connect();
    else if (change.reason !== 'closed') this.degrade(change.reason === 'heartbeat-timeout' ? 'heartbeat-timeout' : 'connection-lost');
  }

  private connect(): void {
    if (this.connected || !this.subscribed) return;
    this.connected = true;
    const { host } = this;
    const at = host.clock.exact();
    const hadData = host.holdsData();
    host.emit({ type: 'link.changed', at, state: 'connected', reason: 'connected' });
    // Anything cached while we could not hear our peers may be stale.
    if (hadData) host.emit({ type: 'invalidated', scope: 'all', at, origin: 'local', reason: 'resync' });
    this.readyWaiters?.resolve();
    this.readyWaiters = undefined;
    if (this.queue.clear || this.queue.keys.size > 0) void this.flushNow();
  }

  private degrade(reason: LinkReason): void {
    if (!this.connected && reason !== 'starting') return;
    this.connected = false;
    const at = this.host.clock.exact();
    this.host.emit({ type: 'link.changed', at, state: 'degraded', reason, entriesExpireBy: at + this.settings.degradedTtl });
  }
}

/** Encodes `keys` as one del message, halving the batch while it is too large for one. */
function encodeFitting(keys: readonly string[], writer: MessageWriter, sentAt: number, traceparent: string | undefined): string[] {
  try {
    return [writer.del(keys, sentAt, traceparent)];
  } catch (error) {
    if (!(error instanceof ProtocolEncodeError) || error.reason !== 'too-large' || keys.length === 1) throw error;
    const half = Math.ceil(keys.length / 2);
    return [...encodeFitting(keys.slice(0, half), writer, sentAt, traceparent), ...encodeFitting(keys.slice(half), writer, sentAt, traceparent)];
  }
}
