/**
 * Connects one cache to its peers over a Transport: subscribes to the cache's
 * channel (and the legacy one), turns every payload into a `receive` command
 * (the echo of its own invalidations is skipped without decoding), every
 * change of the transport's status into a `link` command, the heartbeat timer
 * into `beat` commands and a writable transport into a `retry`, and hands
 * outgoing messages to the outbox. What each of these means for the cache is
 * `decide`'s call.
 */
import type { Command } from '../core/commands.ts';
import type { EffectOf } from '../core/effects.ts';
import type { CacheState } from '../core/state.ts';
import type { Clock } from '../cache/clock.ts';
import { errorType, TransportClosedError, UndeliveredInvalidationsError } from '../cache/errors.ts';
import type { TraceHooks } from '../cache/tracing.ts';
import type { DeliveredPosition, TransportStatusChange, TransportSubscription } from '../transports/transport.ts';
import { readPayload, type InboxSettings } from './inbox.ts';
import { Outbox, type OutboxSettings } from './outbox.ts';

export interface CoherenceSettings extends OutboxSettings {
  readonly beatInterval: number;
  readonly closeTimeout: number;
}

/** How often close() retries what is still queued while its deadline runs (each failed try is a publish.failed event). */
const CLOSE_RETRY_MS = 100;

/** The parts of the cache coherence needs. */
export interface CoherenceHost<V> {
  readonly cacheName: string;
  readonly instanceId: string;
  readonly clock: Clock;
  /** The folded state (read only): the link and the retry queue. */
  readonly state: CacheState<V>;
  readonly trace: TraceHooks;
  dispatch(command: Command<V>): void;
}

export class Coherence<V> {
  private readonly outbox: Outbox<V>;
  private readonly subscriptions: Promise<TransportSubscription>[] = [];
  private readonly stopStatus: () => void;
  private readonly stopWritable: () => void;
  private readonly beats: ReturnType<typeof setInterval>;
  /** Every channel subscription is in place: only then can the transport's `connected` be believed. */
  private subscribed = false;
  private readyWaiters: PromiseWithResolvers<void> | undefined;
  /** Why it can never be ready (its transport was closed). */
  private unusable: Error | undefined;
  private closed = false;
  /** The transport keeps a log: positions matter. */
  private readonly logged: boolean;
  private readonly inbox: InboxSettings;

  constructor(
    private readonly host: CoherenceHost<V>,
    private readonly settings: CoherenceSettings,
  ) {
    const { transport } = settings;
    const now = () => host.clock.exact();
    this.logged = transport.log !== undefined;
    this.inbox = { cacheName: host.cacheName, limits: settings.limits, secret: settings.secret };
    this.outbox = new Outbox<V>(
      { cacheName: host.cacheName, instanceId: host.instanceId, retryQueue: host.state.retryQueue, trace: host.trace, now, dispatch: (command) => host.dispatch(command) },
      settings,
    );
    this.stopStatus = transport.onStatus((change) => this.onStatus(change));
    this.stopWritable = transport.onWritable?.(() => host.dispatch({ type: 'retry', at: now() })) ?? (() => undefined);
    this.beats = setInterval(() => host.dispatch({ type: 'beat', at: now() }), settings.beatInterval);
    this.beats.unref();
    // Until the subscription is in place this instance cannot hear its peers.
    host.dispatch({ type: 'link', at: now(), status: 'degraded', reason: 'starting' });
    const subscribed = [transport.subscribe(settings.channel, (payload, position) => this.receive(payload, false, position))];
    if (settings.legacyChannel !== undefined) {
      subscribed.push(transport.subscribe(settings.legacyChannel, (payload) => this.receive(payload, true)));
    }
    this.subscriptions.push(...subscribed);
    Promise.all(subscribed).then(
      () => {
        this.subscribed = true;
        if (transport.status === 'connected') this.link('connected', 'connected');
      },
      // A transport that cannot subscribe yet reports 'connected' once it can; a closed one never will.
      () => {
        if (transport.status === 'closed') this.onStatus({ status: 'closed', reason: 'closed' });
      },
    );
  }

  /** Resolves once the link is up (immediately when it is); rejects with TransportClosedError when its transport is closed. */
  ready(): Promise<void> {
    if (this.host.state.link === 'connected') return Promise.resolve();
    if (this.unusable !== undefined) return Promise.reject(this.unusable);
    this.readyWaiters ??= Promise.withResolvers<void>();
    return this.readyWaiters.promise;
  }

  sendBeat(): void {
    this.outbox.sendBeat();
  }

  sendAck(ack: number, to: string): void {
    this.outbox.sendAck(ack, to);
  }

  publish(effect: EffectOf<'publish'>): Promise<void> {
    return this.outbox.publish(effect);
  }

  flush(): Promise<void> {
    return this.outbox.flush();
  }

  armRetry(afterMs: number): void {
    this.outbox.armRetry(afterMs);
  }

  /**
   * Delivers what is queued within `closeTimeout`, then stops. What could not
   * be delivered is given up (a `publish.abandoned` event names it) and
   * close() rejects with UndeliveredInvalidationsError naming it too.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.beats);
    const undelivered = await this.deliverQueued();
    this.outbox.stop();
    this.closed = true;
    this.stopStatus();
    this.stopWritable();
    // A subscription still pending (the transport never connected) is undone whenever it completes; close does not wait for it.
    const unsubscribed = this.subscriptions.map((pending) =>
      Promise.race([pending.then((subscription) => subscription.unsubscribe()), Promise.resolve()]).catch(() => undefined),
    );
    await Promise.all(unsubscribed);
    if (undelivered !== undefined) throw undelivered;
  }

  /** Flushes and retries until nothing waits or the deadline passes; the error naming what was given up, if anything was. */
  private async deliverQueued(): Promise<UndeliveredInvalidationsError | undefined> {
    const { host, settings } = this;
    const deadline = host.clock.exact() + settings.closeTimeout;
    await this.outbox.flush();
    while (!this.outbox.idle && host.clock.exact() < deadline) {
      // A ref'd timer, bounded by closeTimeout: close() is awaited, and must end with delivery or with the error naming the keys.
      await new Promise((resolve) => setTimeout(resolve, Math.min(CLOSE_RETRY_MS, deadline - host.clock.exact())));
      await this.outbox.flush();
    }
    if (this.outbox.idle) return undefined;
    const queue = host.state.retryQueue;
    const error = new UndeliveredInvalidationsError(host.cacheName, [...queue.keys], queue.clear, settings.closeTimeout);
    host.dispatch({ type: 'abandon', at: host.clock.exact() });
    this.outbox.failWaiters(error);
    return error;
  }

  private receive(payload: string, legacy: boolean, position?: DeliveredPosition): void {
    if (this.closed) return;
    const { host, settings } = this;
    if (!legacy && this.outbox.echoes.take(payload)) {
      // Its own invalidation: nothing to apply, but on a logged channel the log moved past it.
      if (position !== undefined && this.logged) host.dispatch({ type: 'echo', at: host.clock.exact(), position });
      return;
    }
    const at = host.clock.exact();
    const message = readPayload(payload, legacy, this.inbox);
    const channel = legacy ? (settings.legacyChannel ?? settings.channel) : settings.channel;
    host.dispatch(position === undefined ? { type: 'receive', at, channel, message } : { type: 'receive', at, channel, message, position });
    // Its own heartbeat may have brought the link back.
    this.resolveReady();
  }

  /**
   * Reads the channel's log for a repair and hands `decide` what it found,
   * decoded like any payload (or the error). The read is bounded by the
   * transport's own timeout.
   */
  readLog(effect: EffectOf<'read-log'>): void {
    const log = this.settings.transport.log;
    const { host } = this;
    const answer = (command: Command<V>): void => {
      if (this.closed) return;
      host.dispatch(command);
      this.resolveReady();
    };
    if (log === undefined) {
      answer({ type: 'log.read', at: host.clock.exact(), repairId: effect.repairId, ok: false, errorName: 'NoLog' });
      return;
    }
    log.read(this.settings.channel, effect.after).then(
      (read) => {
        const entries = read.entries.map((entry) => readPayload(entry.payload, false, this.inbox));
        answer({ type: 'log.read', at: host.clock.exact(), repairId: effect.repairId, ok: true, epoch: read.epoch, head: read.head, covered: read.covered, entries });
      },
      (error: unknown) => answer({ type: 'log.read', at: host.clock.exact(), repairId: effect.repairId, ok: false, errorName: errorType(error) }),
    );
  }

  private onStatus(change: TransportStatusChange): void {
    if (this.closed) return;
    if (change.status === 'connected') {
      if (this.subscribed) this.link('connected', 'connected');
    } else if (change.status === 'closed') {
      // Closed under a live cache: it can never hear its peers again, so it degrades for good.
      this.unusable = new TransportClosedError(this.host.cacheName);
      this.link('degraded', 'closed');
      this.readyWaiters?.reject(this.unusable);
      this.readyWaiters = undefined;
    } else {
      this.link('degraded', change.reason === 'heartbeat-timeout' ? 'heartbeat-timeout' : 'connection-lost');
    }
  }

  private link(status: 'connected' | 'degraded', reason: 'connected' | 'connection-lost' | 'heartbeat-timeout' | 'closed'): void {
    this.host.dispatch({ type: 'link', at: this.host.clock.exact(), status, reason });
    this.resolveReady();
  }

  private resolveReady(): void {
    if (this.readyWaiters === undefined || this.host.state.link !== 'connected') return;
    this.readyWaiters.resolve();
    this.readyWaiters = undefined;
  }
}
