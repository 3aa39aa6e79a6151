/**
 * Sends this instance's invalidations and heartbeats. The invalidations of
 * one tick are coalesced into one message (split only to respect the message
 * limits), and each send carries whatever waits in the retry queue along with
 * it. How a send ended goes back to `decide` as a `publish.settled` command:
 * the retry queue, its overflow and the retry timer are decisions, not this
 * file's. Each `invalidate()` waits here until a send that carried its key
 * (or a clear) was accepted, or its deadline passed.
 */
import type { Command } from '../core/commands.ts';
import type { EffectOf } from '../core/effects.ts';
import type { RetryQueue } from '../core/state.ts';
import { errorType, InvalidationTimeoutError } from '../cache/errors.ts';
import { afterThisTick } from '../cache/defer.ts';
import type { TraceHooks } from '../cache/tracing.ts';
import { encodeLegacy } from '../protocol/legacy.ts';
import { ProtocolEncodeError, type ProtocolLimits, type Secret } from '../protocol/message.ts';
import { MessageWriter } from '../protocol/writer.ts';
import type { Transport } from '../transports/transport.ts';
import { AwaitedEchoes } from './echoes.ts';
import { addScoped, encodeScoped, needsClear, type ScopedBatch } from './scoped-batch.ts';

export interface OutboxSettings {
  readonly transport: Transport;
  readonly channel: string;
  /** Also speak the original module's format on this channel (migration). */
  readonly legacyChannel: string | undefined;
  readonly secret: Secret | undefined;
  readonly limits: ProtocolLimits;
  /** How long an invalidation waits for a send that carries it to be accepted. */
  readonly invalidateTimeout: number;
}

export interface OutboxHost<V> {
  readonly cacheName: string;
  readonly instanceId: string;
  /** The folded retry queue (read only). */
  readonly retryQueue: RetryQueue;
  readonly trace: TraceHooks;
  now(): number;
  dispatch(command: Command<V>): void;
}

/**
 * The invalidations of one tick, sent as one message, and the callers waiting
 * for it together: one promise for the whole batch, not one per call, and no
 * timer unless its send fails (nothing but the promise before the write).
 */
interface Batch {
  readonly keys: Set<string>;
  clear: boolean;
  /** Soft invalidations, tags and namespaces, once one is made. */
  scoped: ScopedBatch | undefined;
  /** When its first invalidation was made: its deadline counts from then. */
  readonly madeAt: number;
  /** Its callers' promise; settled when a send carrying it is accepted, or at its deadline. */
  readonly settle: PromiseWithResolvers<void> | undefined;
  /** Armed when its send failed: rejects its callers at the deadline. */
  deadline: ReturnType<typeof setTimeout> | undefined;
}

export class Outbox<V> {
  private pending: Batch | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Flushes running or waiting their turn. */
  private flushes = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  /**
   * The highest request for confirmation not yet carried by an accepted send
   * (0: none). One number is enough: a peer that confirms request n applied
   * every earlier message too, so the next send asks for all of them at once.
   */
  private owedAck = 0;
  private readonly writer: MessageWriter;
  /** Batches whose send failed, waiting for a later one that carries them. */
  private readonly waiters = new Set<Batch>();
  readonly echoes = new AwaitedEchoes();

  constructor(
    private readonly host: OutboxHost<V>,
    private readonly settings: OutboxSettings,
  ) {
    // The cache's name and instance id are checked once, here: every message reuses them.
    this.writer = new MessageWriter(host.cacheName, host.instanceId, settings.limits, settings.secret);
  }

  /**
   * Adds an invalidation to this tick's batch. Resolves once a send that
   * carried it was accepted; rejects with InvalidationTimeoutError when none
   * was within `invalidateTimeout` (the key stays queued for a retry).
   */
  publish(effect: EffectOf<'publish'>): Promise<void> {
    if (this.pending === undefined) {
      this.pending = { keys: new Set(), clear: false, scoped: undefined, madeAt: this.host.now(), settle: Promise.withResolvers<void>(), deadline: undefined };
      // Everything invalidated in this tick goes out as one message.
      void afterThisTick(this.flush);
    }
    const batch = this.pending;
    if (effect.ack !== undefined && effect.ack > this.owedAck) this.owedAck = effect.ack;
    if (effect.scope === 'all') {
      batch.clear = true;
      batch.keys.clear();
      batch.scoped = undefined;
    } else if (!batch.clear) {
      if (effect.scope === 'key' && effect.soft !== true) batch.keys.add(effect.key);
      else batch.scoped = addScoped(batch.scoped, effect);
    }
    return (batch.settle as PromiseWithResolvers<void>).promise;
  }

  /** Sends a heartbeat; a failed one is simply not renewed (the lease lapses on its own). */
  sendBeat(): void {
    if (this.closed) return;
    let payload: string;
    try {
      payload = this.writer.beat(this.host.now());
    } catch {
      return;
    }
    this.settings.transport.publish(this.settings.channel, [payload], 'mark').catch(() => undefined);
  }

  /** Confirms to instance `to` that its messages up to request `ack` were applied; a lost one makes its requester time out, naming this instance. */
  sendAck(ack: number, to: string): void {
    if (this.closed) return;
    let payload: string;
    try {
      payload = this.writer.ack(ack, to, this.host.now());
    } catch {
      return;
    }
    // A mark, not a log entry: a confirmation invalidates nothing, so a repair has nothing to read in it.
    this.settings.transport.publish(this.settings.channel, [payload], 'mark').catch(() => undefined);
  }

  /** Whether every invalidation handed to the outbox was carried by an accepted send. */
  get idle(): boolean {
    return this.waiters.size === 0 && this.pending === undefined && !this.host.retryQueue.clear && this.host.retryQueue.keys.size === 0;
  }

  /** Rejects every waiting invalidation with `error` (close() gave them up). */
  failWaiters(error: Error): void {
    for (const waiter of this.waiters) this.finish(waiter, error);
  }

  /** A batch whose send failed waits, from now on, for a later send that carries it, until its deadline. */
  private awaitRetry(batch: Batch): void {
    if (batch.settle === undefined || this.waiters.has(batch)) return;
    this.waiters.add(batch);
    batch.deadline = setTimeout(
      () => this.finish(batch, new InvalidationTimeoutError(this.host.cacheName, [...batch.keys], batch.clear, this.settings.invalidateTimeout)),
      Math.max(0, batch.madeAt + this.settings.invalidateTimeout - this.host.now()),
    );
    batch.deadline.unref();
  }

  private finish(batch: Batch, error: Error | undefined): void {
    this.waiters.delete(batch);
    if (batch.deadline !== undefined) clearTimeout(batch.deadline);
    // Settling twice is a no-op: a batch answered by its deadline stays rejected.
    if (error === undefined) batch.settle?.resolve();
    else batch.settle?.reject(error);
  }

  /** The failed batches a send of `batch` answers when it is accepted (taken before the send: later invalidations need a later send). */
  private carriedBy(batch: Batch): readonly Batch[] {
    if (this.waiters.size === 0) return NONE_WAITING;
    const carried: Batch[] = [];
    for (const waiter of this.waiters) {
      if (batch.clear || (!waiter.clear && isSubset(waiter.keys, batch.keys))) carried.push(waiter);
    }
    return carried;
  }

  /** Sends the pending batch together with what waits in the retry queue; one flush at a time. */
  readonly flush = (): Promise<void> => {
    // Straight away when idle (the common case, one promise hop less on every publish); else after the flushes before it.
    this.flushes++;
    this.flushing = this.flushes > 1 ? this.flushing.then(this.sendPending, this.sendPending) : this.sendPending();
    return this.flushing;
  };

  /** Fires a `retry` command after `afterMs`, unless one is already due. */
  armRetry(afterMs: number): void {
    if (this.retryTimer !== undefined || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) this.host.dispatch({ type: 'retry', at: this.host.now() });
    }, afterMs);
    this.retryTimer.unref();
  }

  /** Stops retrying and sending heartbeats (what is still queued was delivered or given up by then). */
  stop(): void {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
  }

  private readonly sendPending = async (): Promise<void> => {
    try {
      const batch: Batch = this.pending ?? { keys: new Set<string>(), clear: false, scoped: undefined, madeAt: this.host.now(), settle: undefined, deadline: undefined };
      this.pending = undefined;
      const queue = this.host.retryQueue;
      if (queue.clear) batch.clear = true;
      if (batch.clear) batch.keys.clear();
      else for (const key of queue.keys) batch.keys.add(key);
      if (batch.clear || batch.keys.size > 0 || batch.scoped !== undefined) await this.send(batch, this.carriedBy(batch));
    } finally {
      this.flushes--;
    }
  };

  private async send(batch: Batch, carried: readonly Batch[]): Promise<void> {
    const { host, settings } = this;
    const traceparent = host.trace.openPublish(settings.channel);
    let clear = batch.clear;
    let keys: string[] = clear ? [] : [...batch.keys];
    let payloads: { v1: string[]; legacy: string[]; clear: boolean } | undefined;
    let scoped: ScopedBatch | undefined;
    let errorName: string | undefined;
    // Taken now: a request made while this send is on its way needs a later send.
    const ack = this.owedAck;
    this.owedAck = 0;
    try {
      payloads = this.encode(keys, clear, traceparent);
      if (payloads.clear) {
        clear = true;
        keys = [];
      } else if (batch.scoped !== undefined) {
        scoped = batch.scoped;
        // Sent after the keys: its last message asks for the confirmation, if one is owed.
        payloads.v1.push(...encodeScoped(scoped, this.writer, settings.limits, host.now(), traceparent, ack === 0 ? undefined : ack));
        // The original format names keys only: a tag or a namespace is a clear to it, an expire a delete.
        if (settings.legacyChannel !== undefined) {
          const origin = host.instanceId;
          payloads.legacy.push(...encodeLegacy(needsClear(scoped) ? { op: 'clear', origin } : { op: 'del', keys: [...scoped.expire], origin }, settings.limits));
        }
      }
      if (ack !== 0 && scoped === undefined) this.askForAcks(payloads, keys, ack, traceparent);
      const sent = settings.transport.publish(settings.channel, payloads.v1);
      // After the call, which writes to the socket: the bookkeeping is off the path to the peers. An echo
      // cannot arrive before this line unless a transport delivers inside publish(); it is then decoded and
      // skipped by its origin, as an echo that is not awaited always is.
      this.echoes.expect(payloads.v1);
      await sent;
      if (payloads.legacy.length > 0 && settings.legacyChannel !== undefined) {
        await settings.transport.publish(settings.legacyChannel, payloads.legacy, 'plain');
      }
    } catch (error) {
      errorName = errorType(error);
      if (payloads !== undefined) this.echoes.forget(payloads.v1);
      if (ack > this.owedAck) this.owedAck = ack;
    }
    const messages = errorName === undefined && payloads !== undefined ? payloads.v1.length : 0;
    if (scoped !== undefined) {
      // What the retry queue can hold of it (see scoped-batch.ts).
      if (errorName !== undefined && needsClear(scoped)) {
        clear = true;
        keys = [];
      } else {
        keys.push(...scoped.expire);
      }
    }
    // Registered before the failure is decided on, so no later send can miss it.
    if (errorName !== undefined) this.awaitRetry(batch);
    host.dispatch({ type: 'publish.settled', at: host.now(), keys, clear, messages, errorName, traceparent });
    if (errorName !== undefined) return;
    batch.settle?.resolve();
    for (const waiter of carried) this.finish(waiter, undefined);
  }

  /**
   * Makes the last message of a send ask for confirmation of request `ack`
   * (peers apply a publisher's messages in order, so confirming the last
   * confirms them all): a send of one message is rewritten; after several,
   * one more asks, repeating the last key.
   */
  private askForAcks(payloads: { v1: string[]; clear: boolean }, keys: readonly string[], ack: number, traceparent: string | undefined): void {
    const sentAt = this.host.now();
    const v1 = payloads.v1;
    if (v1.length === 1) {
      try {
        v1[0] = this.writer.asking(payloads.clear ? undefined : keys, ack, sentAt, traceparent);
        return;
      } catch (error) {
        // Too large with the request added: the extra message below carries it.
        if (!(error instanceof ProtocolEncodeError)) throw error;
      }
    }
    v1.push(this.writer.asking(payloads.clear ? undefined : keys.slice(-1), ack, sentAt, traceparent));
  }

  /** One v1 message per chunk of keys that fits the limits; a key too long to send turns the batch into a clear. */
  private encode(keys: readonly string[], clear: boolean, traceparent: string | undefined): { v1: string[]; legacy: string[]; clear: boolean } {
    const { host, settings, writer } = this;
    const { limits } = settings;
    const sentAt = host.now();
    const sendable = clear || longestKey(keys) > limits.maxKeyLength ? undefined : keys;
    // Every part is already checked (the cache's name, its instance id, key lengths above): only the size is left.
    let v1: string[];
    if (sendable === undefined) {
      v1 = [writer.clear(sentAt, traceparent)];
    } else if (sendable.length === 0) {
      // Only soft, tag or namespace invalidations this tick.
      v1 = [];
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
      settings.legacyChannel === undefined || sendable?.length === 0
        ? []
        : encodeLegacy(sendable === undefined ? { op: 'clear', origin: host.instanceId } : { op: 'del', keys: sendable, origin: host.instanceId }, settings.limits);
    return { v1, legacy, clear: sendable === undefined };
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

const NONE_WAITING: readonly Batch[] = [];

function isSubset(keys: ReadonlySet<string>, of: ReadonlySet<string>): boolean {
  if (keys === of) return true;
  for (const key of keys) if (!of.has(key)) return false;
  return true;
}

/** The length of the longest key (a loop, not a closure: this runs on every publish). */
function longestKey(keys: readonly string[]): number {
  let longest = 0;
  for (const key of keys) if (key.length > longest) longest = key.length;
  return longest;
}
