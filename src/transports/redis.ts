/**
 * The Redis transport, over ioredis: PUBLISH/SUBSCRIBE on a standalone server,
 * SPUBLISH/SSUBSCRIBE (sharded pub/sub) on a Redis Cluster. Publishing uses one
 * connection; receiving needs its own (a subscribed connection can do nothing
 * else), one per node that owns a channel's slot in a cluster. The transport is
 * connected only while every subscriber link is (see redis-subscriber.ts).
 *
 * Ownership: connections the transport opens (from `url`, or duplicated from a
 * caller's client) it closes; a caller's `client` and `subscriber` it never closes.
 */
import type { Cluster} from 'ioredis';
import { Redis, type RedisOptions } from 'ioredis';
import { CacheOptionError } from '../cache/errors.ts';
import { Deadline } from './deadline.ts';
import { describe as describeValue, timerMs } from '../cache/validate.ts';
import { quitOrDisconnect, SubscriberLink } from './redis-subscriber.ts';
import { StatusBroadcaster, WritableSignal } from './status-listeners.ts';
import { ChannelListeners } from './channel-listeners.ts';
import { resolveRetention, type LogRetention } from './channel-log.ts';
import { parseFrame, RedisLog } from './redis-log.ts';
import {
  type PayloadListener,
  type PublishKind,
  type StatusListener,
  type Transport,
  type TransportLog,
  type TransportStatus,
  type TransportStatusReason,
  type TransportSubscription,
} from './transport.ts';

export interface RedisTransportOptions {
  /** Connect to this URL (`redis://host:port/db`); the transport owns the connections. */
  url?: string;
  /** Or a caller-owned client (standalone or Cluster) to publish with; the subscriber is its `duplicate()`. */
  client?: Redis | Cluster;
  /** A caller-owned connection dedicated to subscribing (standalone only). Default: `client.duplicate()`. */
  subscriber?: Redis;
  /** ioredis options for connections made from `url`. */
  redisOptions?: RedisOptions;
  /** Sharded pub/sub (SPUBLISH/SSUBSCRIBE). Default: on for a Cluster client, off otherwise. */
  sharded?: boolean;
  /** How often the subscriber is pinged, in ms. Default 1 000. */
  heartbeatInterval?: number;
  /** How long a ping may go unanswered before the link counts as lost, in ms. Default 2 000. */
  heartbeatTimeout?: number;
  /**
   * How long a publish may take before it counts as failed (and is queued for
   * retry), in ms; also how long close() waits for the server to answer QUIT
   * before it drops a connection. Default 2 000.
   */
  publishTimeout?: number;
  /**
   * Keep a log of each channel in Redis (a Stream beside the pub/sub, see
   * redis-log.ts), so a cache repairs a gap by reading what it missed instead
   * of dropping everything. `true` keeps 10 000 entries for at most an hour.
   * Every instance on a channel must turn it on. Default off.
   */
  log?: boolean | LogRetention;
}

const KNOWN_OPTIONS = new Set(['url', 'client', 'subscriber', 'redisOptions', 'sharded', 'heartbeatInterval', 'heartbeatTimeout', 'publishTimeout', 'log']);

export class RedisTransport implements Transport {
  readonly kind = 'redis';
  private readonly publisher: Redis | Cluster;
  private readonly ownsPublisher: boolean;
  private readonly sharded: boolean;
  private readonly statuses: StatusBroadcaster;
  private readonly listeners = new ChannelListeners();
  /** Subscriber links by node ("host:port"; "default" on a standalone server). */
  private readonly links = new Map<string, SubscriberLink>();
  private readonly linkOfChannel = new Map<string, SubscriberLink>();
  private readonly settings: { heartbeatInterval: number; heartbeatTimeout: number; publishTimeout: number };
  private readonly givenSubscriber: Redis | undefined;
  private readonly publishDeadline: Deadline;
  /** Bounds each QUIT of close(): a server that stopped answering must not hold close() forever. */
  private readonly closeDeadline: Deadline;
  private readonly writable = new WritableSignal();
  /** Ends the publisher's 'ready' subscription, while anyone listens for onWritable. */
  private stopReady: (() => void) | undefined;
  private closed = false;
  /** Keeps the channels' logs, when the option is on. */
  private readonly redisLog: RedisLog | undefined;
  readonly log: TransportLog | undefined;

  constructor(options: RedisTransportOptions) {
    for (const key of Object.keys(options)) {
      if (!KNOWN_OPTIONS.has(key)) throw new CacheOptionError(`redis.${key}`, 'is not a known option');
    }
    const { url, client, subscriber } = options;
    if ((url === undefined) === (client === undefined)) {
      throw new CacheOptionError('redis', `needs exactly one of "url" or "client", got ${url === undefined ? 'neither' : 'both'}`);
    }
    if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) {
      throw new CacheOptionError('redis.url', `must be a redis:// or rediss:// URL, got ${describeValue(url)}`);
    }
    if (client !== undefined && !isIoredisClient(client)) {
      throw new CacheOptionError('redis.client', 'must be an ioredis Redis or Cluster instance');
    }
    if (subscriber !== undefined && (!isIoredisClient(subscriber) || subscriber.isCluster || client?.isCluster === true)) {
      throw new CacheOptionError('redis.subscriber', 'must be an ioredis Redis instance, used with a standalone client');
    }
    this.settings = {
      heartbeatInterval: timerMs('redis.heartbeatInterval', options.heartbeatInterval ?? 1_000),
      heartbeatTimeout: timerMs('redis.heartbeatTimeout', options.heartbeatTimeout ?? 2_000),
      publishTimeout: timerMs('redis.publishTimeout', options.publishTimeout ?? 2_000),
    };
    // Checked before any connection is opened: a refused option leaves nothing running.
    const retention = resolveRetention('redis.log', options.log);
    if (url !== undefined) {
      // Fail fast while disconnected: a failed publish goes to the cache's retry queue, not ioredis's offline queue.
      this.publisher = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, ...options.redisOptions });
      this.publisher.on('error', () => undefined);
      this.ownsPublisher = true;
    } else {
      this.publisher = client as Redis | Cluster;
      this.ownsPublisher = false;
    }
    this.sharded = options.sharded ?? this.publisher.isCluster;
    this.givenSubscriber = subscriber;
    const { publishTimeout } = this.settings;
    this.publishDeadline = new Deadline(publishTimeout, () => new PublishTimeoutError(publishTimeout));
    this.closeDeadline = new Deadline(publishTimeout, () => new Error(`redis QUIT got no answer within ${publishTimeout} ms`));
    this.statuses = new StatusBroadcaster('connecting');
    const redisLog = retention === undefined ? undefined : new RedisLog(this.publisher, this.sharded, retention);
    this.redisLog = redisLog;
    this.log =
      redisLog === undefined
        ? undefined
        : {
            read: (channel, after) => {
              if (this.closed) return Promise.reject(new Error('redis transport is closed'));
              return this.publishDeadline.boundValue(redisLog.read(channel, after));
            },
          };
  }

  get status(): TransportStatus {
    return this.statuses.status;
  }

  async subscribe(channel: string, listener: PayloadListener): Promise<TransportSubscription> {
    if (this.closed) throw new Error('redis transport is closed');
    if (this.listeners.add(channel, listener)) {
      const link = await this.linkFor(channel);
      this.linkOfChannel.set(channel, link);
      await link.add(channel);
    }
    return {
      unsubscribe: async () => {
        if (!this.listeners.remove(channel, listener)) return;
        await this.linkOfChannel.get(channel)?.remove(channel);
        this.linkOfChannel.delete(channel);
      },
    };
  }

  publish(channel: string, payloads: readonly string[], kind: PublishKind = 'entry'): Promise<void> {
    if (this.closed) return Promise.reject(new Error('redis transport is closed'));
    let sent: Promise<unknown>;
    try {
      const log = kind === 'plain' ? undefined : this.redisLog;
      if (log !== undefined) sent = log.publish(channel, payloads, kind);
      // One payload is the common case: no array of promises to wait on.
      else sent = payloads.length === 1 ? this.publishOne(channel, payloads[0] as string) : Promise.all(payloads.map((payload) => this.publishOne(channel, payload)));
    } catch (error) {
      // A client that throws rather than rejects still fails this promise, as an async publish would.
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return this.publishDeadline.bound(sent);
  }

  private publishOne(channel: string, payload: string): Promise<unknown> {
    return this.sharded ? this.publisher.spublish(channel, payload) : this.publisher.publish(channel, payload);
  }

  onStatus(listener: StatusListener): () => void {
    return this.statuses.on(listener);
  }

  /**
   * Calls `listener` each time the publishing connection becomes ready (it
   * connected, or reconnected after a drop), so what failed meanwhile is sent
   * at once. A Cluster client says so once the cluster as a whole is ready.
   */
  onWritable(listener: () => void): () => void {
    if (this.closed) return () => undefined;
    const stop = this.writable.on(listener);
    const publisher = this.publisher;
    // A client accepted by shape may not be an event emitter: it then never announces anything.
    if (this.stopReady === undefined && isEmitter(publisher)) {
      const announce = (): void => this.writable.emit();
      publisher.on('ready', announce);
      this.stopReady = () => void publisher.off('ready', announce);
    }
    return () => {
      stop();
      if (this.writable.size > 0) return;
      this.stopReady?.();
      this.stopReady = undefined;
    };
  }

  /**
   * Closes what the transport opened, within about `publishTimeout` whatever
   * the server does: each QUIT waits that long for its answer, then the
   * connection is dropped. The status is `closed` from the first moment, as
   * nothing is heard any more.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.statuses.set('closed', 'closed');
    this.stopReady?.();
    this.stopReady = undefined;
    this.writable.clear();
    const links = [...this.links.values()];
    this.links.clear();
    const closing = links.map((link) => link.close());
    if (this.ownsPublisher) closing.push(quitOrDisconnect(this.publisher, this.closeDeadline));
    await Promise.all(closing);
    // Publishes still in flight keep their deadline; otherwise nothing of this transport stays scheduled.
    this.closeDeadline.release();
    this.publishDeadline.release();
  }

  /** The subscriber link that can hear `channel`: the one connection on a standalone server, the slot owner's in a cluster. */
  private async linkFor(channel: string): Promise<SubscriberLink> {
    const node = this.publisher.isCluster ? await this.slotOwner(this.publisher as Cluster, channel) : 'default';
    // Closed meanwhile: a link made now would open a connection that nothing closes.
    if (this.closed) throw new Error('redis transport is closed');
    let link = this.links.get(node);
    if (link === undefined) {
      const owned = this.givenSubscriber === undefined;
      link = new SubscriberLink(this.subscriberConnection(node), {
        sharded: this.sharded,
        heartbeatInterval: this.settings.heartbeatInterval,
        heartbeatTimeout: this.settings.heartbeatTimeout,
        owned,
        closeDeadline: this.closeDeadline,
        onPayload: (ch, payload) => this.deliver(ch, payload),
        onHealth: (_connected, reason) => this.refreshStatus(reason),
      });
      this.links.set(node, link);
    }
    return link;
  }

  private subscriberConnection(node: string): Redis {
    if (this.givenSubscriber !== undefined) return this.givenSubscriber;
    const publisher = this.publisher;
    if (publisher.isCluster) {
      const cluster = publisher as Cluster;
      const [host, port] = splitNode(node);
      const base = cluster.nodes('master')[0]?.options ?? {};
      // A cluster's node connections do not reconnect by themselves (the Cluster does it for them: retryStrategy null);
      // this one is ours alone, so it takes ioredis's default back, or a dropped subscriber would never return.
      return new Redis({ ...base, host, port, lazyConnect: false, enableOfflineQueue: true, retryStrategy: reconnectDelay });
    }
    // A subscriber must queue its SUBSCRIBE while (re)connecting, whatever the publisher does.
    return (publisher as Redis).duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
  }

  /** The master that owns the channel's slot (sharded pub/sub routes by the channel like a key). */
  private async slotOwner(cluster: Cluster, channel: string): Promise<string> {
    if (cluster.status !== 'ready') await new Promise<void>((resolve) => cluster.once('ready', () => resolve()));
    const slot = (await cluster.call('CLUSTER', 'KEYSLOT', channel)) as number;
    const owner = cluster.slots[slot]?.[0];
    if (owner === undefined) throw new Error(`no cluster node owns slot ${slot} of channel ${channel}`);
    return owner;
  }

  private deliver(channel: string, payload: string): void {
    // Framed by a publisher that keeps the log (this one or a peer): the position travels beside the payload.
    const framed = parseFrame(payload);
    if (framed === undefined) this.listeners.deliver(channel, payload);
    else this.listeners.deliver(channel, framed.payload, framed.position);
  }

  private refreshStatus(reason: TransportStatusReason): void {
    if (this.closed) return;
    const links = [...this.links.values()];
    const healthy = links.length > 0 && links.every((link) => link.connected);
    this.statuses.set(healthy ? 'connected' : 'disconnected', healthy ? 'connected' : reason);
  }
}

/** A publish did not complete within `publishTimeout`. */
export class PublishTimeoutError extends Error {
  override readonly name = 'PublishTimeoutError';
  constructor(timeoutMs: number) {
    super(`redis publish did not complete within ${timeoutMs} ms`);
  }
}

/** Creates a Redis transport (see RedisTransportOptions). */
export function redisTransport(options: RedisTransportOptions): RedisTransport {
  return new RedisTransport(options);
}

/**
 * An ioredis client, by shape rather than `instanceof`: a service's own ioredis
 * (another copy in node_modules, or another major) must be accepted too.
 */
function isIoredisClient(value: unknown): value is Redis | Cluster {
  if (typeof value !== 'object' || value === null) return false;
  const client = value as Record<string, unknown>;
  return typeof client['isCluster'] === 'boolean' && typeof client['duplicate'] === 'function' && typeof client['publish'] === 'function' && typeof client['status'] === 'string';
}

/** Whether a client accepted by shape can also be listened to (a real ioredis client always can). */
function isEmitter(client: Redis | Cluster): boolean {
  const candidate = client as Partial<Record<'on' | 'off', unknown>>;
  return typeof candidate.on === 'function' && typeof candidate.off === 'function';
}

/** ioredis's default reconnect delay: 50 ms more per attempt, at most 2 s. */
function reconnectDelay(attempt: number): number {
  return Math.min(attempt * 50, 2_000);
}

function splitNode(node: string): [string, number] {
  const colon = node.lastIndexOf(':');
  return [node.slice(0, colon), Number(node.slice(colon + 1))];
}
