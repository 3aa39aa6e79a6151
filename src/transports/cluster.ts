/**
 * A transport over node:cluster IPC, for the workers of one host without
 * Redis. A worker sends its payloads to the primary; the primary's relay
 * (`installClusterRelay()`) forwards them to every live worker, the sender
 * included, and to the caches of the primary itself, which may take part too.
 * A worker hears its own publishes only through the relay, never locally: the
 * echo of its heartbeat proves the round trip, so a primary that stops
 * relaying (stalled, busy) lets the worker's lease lapse rather than pass
 * unnoticed. The primary is the relay, so its own caches hear their publishes
 * locally.
 *
 * With `installClusterRelay({ log })` the relay keeps each channel's log, as a
 * Redis server does for the Redis transport: it numbers every entry it relays,
 * sends the position along (`at`, the first payload's), relays heartbeats as
 * marks of the log's head, and answers the workers' reads of the log, so a
 * cache on `clusterTransport({ log: true })` repairs a gap exactly. How the two
 * options meet, and the read's timeout: cluster-log.ts.
 *
 * Every message this module sends carries the key CLUSTER_IPC_MARKER, so the
 * application's own IPC messages are never touched, and anything marked that
 * does not have the expected shape is dropped (the cache validates payload
 * contents). A worker counts as connected once the relay has answered it: a
 * primary that never installed the relay leaves the workers' caches degraded
 * instead of silently incoherent.
 *
 * The transport starts no timer and opens nothing: a worker's IPC channel is
 * what keeps it alive, with or without this transport (a log read's timer is
 * unref'd).
 */
import cluster, { type Worker } from 'node:cluster';
import { StatusBroadcaster, WritableSignal } from './status-listeners.ts';
import { ChannelListeners } from './channel-listeners.ts';
import type { ResolvedRetention } from './channel-log.ts';
import { parsePosition, parseReadAnswer, parseReadRequest, PendingReads, positionAt, RelayLogs, resolveRelayOptions, resolveTransportOptions, sameRetention } from './cluster-log.ts';
import type { ClusterRelayOptions, ClusterTransportOptions, LogCursor } from './cluster-log.ts';
import { CacheOptionError } from '../cache/errors.ts';
import type { DeliveredPosition, LogRead, PayloadListener, PublishKind, StatusListener, Transport, TransportLog } from './transport.ts';
import type { TransportStatus, TransportStatusReason, TransportSubscription } from './transport.ts';

export type { ClusterRelayOptions, ClusterTransportOptions } from './cluster-log.ts';
export { LogReadTimeoutError } from './cluster-log.ts';

/** The key that marks this transport's IPC messages (`{ [CLUSTER_IPC_MARKER]: 1, ... }`). */
export const CLUSTER_IPC_MARKER = 'coherent-cache:ipc';

/** Worker to primary: "is a relay there?"; primary to worker: the relay's state (relay-up says whether it keeps a log). */
type Control = 'hello' | 'relay-up' | 'relay-down';

type ParsedMessage =
  /** `publish`: how a worker published it (the relay numbers entries); `at`: the position of the first payload, from a relay that keeps a log. */
  | { kind: 'data'; channel: string; payloads: string[]; publish: PublishKind; at: DeliveredPosition | undefined }
  | { kind: 'control'; control: Control; log: boolean }
  | { kind: 'read'; id: number; channel: string; after: LogCursor | undefined }
  | { kind: 'answer'; id: number; outcome: LogRead | Error };

const CONTROLS: ReadonlySet<unknown> = new Set<Control>(['hello', 'relay-up', 'relay-down']);
const PUBLISH_KINDS: ReadonlySet<unknown> = new Set<PublishKind>(['entry', 'mark', 'plain']);

/**
 * Whether an IPC message belongs to this transport, for applications whose
 * own `process.on('message')` / `cluster.on('message')` handlers should skip it.
 */
export function isClusterTransportMessage(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<string, unknown>)[CLUSTER_IPC_MARKER] === 1;
}

/** The message, or undefined for anything that is not ours or not well-formed (IPC input is untrusted). */
function parse(raw: unknown): ParsedMessage | undefined {
  if (!isClusterTransportMessage(raw)) return undefined;
  const fields = raw as Record<string, unknown>;
  const { channel, payloads, control, publish = 'entry' } = fields;
  if (control !== undefined) return CONTROLS.has(control) ? { kind: 'control', control: control as Control, log: fields['log'] === true } : undefined;
  if (fields['read'] !== undefined) {
    const request = parseReadRequest(fields);
    return request === undefined ? undefined : { kind: 'read', ...request };
  }
  if (fields['answer'] !== undefined) {
    const answer = parseReadAnswer(fields);
    return answer === undefined ? undefined : { kind: 'answer', ...answer };
  }
  if (typeof channel !== 'string' || !Array.isArray(payloads) || !PUBLISH_KINDS.has(publish)) return undefined;
  const strings: string[] = [];
  // An indexed loop, not every(): a sparse array's holes must fail the check too.
  for (let i = 0; i < payloads.length; i++) {
    const payload: unknown = payloads[i];
    if (typeof payload !== 'string') return undefined;
    strings.push(payload);
  }
  const at = parsePosition(fields['at'], strings.length);
  if (at === null) return undefined;
  return { kind: 'data', channel, payloads: strings, publish: publish as PublishKind, at };
}

/** A data message: from a worker with how it was published (entries unsaid), from the relay with the first payload's position. */
function dataMessage(channel: string, payloads: readonly string[], publish: PublishKind, at?: DeliveredPosition): object {
  const message: Record<string, unknown> = { [CLUSTER_IPC_MARKER]: 1, channel, payloads };
  if (publish !== 'entry') message['publish'] = publish;
  if (at !== undefined) message['at'] = at;
  return message;
}
const controlMessage = (control: Control, log?: boolean) => (log === undefined ? { [CLUSTER_IPC_MARKER]: 1, control } : { [CLUSTER_IPC_MARKER]: 1, control, log });

/** What the process-wide link needs from each open transport. */
interface Endpoint {
  /** It reads the relay's log (clusterTransport({ log: true })). */
  readonly logged: boolean;
  deliver(channel: string, payloads: readonly string[], at: DeliveredPosition | undefined): void;
  /** The link (or the relay's log) changed: the endpoint works out its status again. */
  refresh(reason: TransportStatusReason): void;
  /** The relay answered (again): what failed to send may be sent now. */
  writable(): void;
}

/** This process's open transports: whatever arrives (in the primary, its own publishes too) reaches all of them. */
const endpoints = new Set<Endpoint>();
/** Worker side: `connected` once the primary's relay has answered, `disconnected` once it or the IPC channel went away. */
let workerLink: TransportStatus = 'connecting';
/** Worker side: whether the relay, when it last answered, said it keeps a log. */
let workerRelayLogs = false;
/** Worker side: log reads waiting for the relay's answer. */
const pendingReads = new PendingReads();
/** Primary side: how many installClusterRelay() calls are in force (the relay itself is installed once). */
let relayInstalls = 0;
/** Primary side: the relay's logs, kept while it is uninstalled (nothing is relayed meanwhile) and dropped when it comes back without, or with other bounds. */
let relayLogs: RelayLogs | undefined;
let mismatchWarned = false;

const ignore = (): void => undefined;

function deliverLocally(channel: string, payloads: readonly string[], at: DeliveredPosition | undefined): void {
  for (const endpoint of [...endpoints]) endpoint.deliver(channel, payloads, at);
}

function refreshStatuses(reason: TransportStatusReason): void {
  for (const endpoint of [...endpoints]) endpoint.refresh(reason);
}

function announceWritable(): void {
  for (const endpoint of [...endpoints]) endpoint.writable();
}

/** Whether the relay this process hears keeps a log. */
function relayKeepsLog(): boolean {
  return cluster.isWorker ? workerRelayLogs : relayInstalls > 0 && relayLogs !== undefined;
}

/** The status of an endpoint: the link's, except that one reading the log is disconnected while its relay keeps none. */
function statusOf(logged: boolean): TransportStatus {
  const link = cluster.isWorker ? (process.connected ? workerLink : 'disconnected') : relayInstalls > 0 ? 'connected' : 'disconnected';
  if (link !== 'connected' || !logged || relayKeepsLog()) return link;
  if (!mismatchWarned) {
    mismatchWarned = true;
    process.emitWarning(
      'clusterTransport({ log: true }) is used, but the cluster relay keeps no log: install it with installClusterRelay({ log: true }) in the primary. Its caches stay degraded meanwhile',
      { type: 'CoherentCacheWarning', code: 'COHERENT_CACHE_CLUSTER_LOG' },
    );
  }
  return 'disconnected';
}

function liveWorkers(): Worker[] {
  return Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined && worker.isConnected());
}

/** Settles once the message is written to the IPC channel (or could not be): nothing waits on a timer. */
function sendToPrimary(message: object): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.send === undefined || !process.connected) {
      reject(new Error('coherent-cache: the IPC channel to the cluster primary is closed'));
      return;
    }
    process.send(message, undefined, {}, (error) => (error ? reject(error) : resolve()));
  });
}

/** Sends to every live worker; a worker that exits meanwhile just misses it, as a stopped process would. */
function sendToWorkers(message: object): Promise<void> {
  const sends = liveWorkers().map((worker) => new Promise<void>((resolve) => worker.send(message, () => resolve())));
  return Promise.all(sends).then(ignore);
}

// ---------------------------------------------------------------------------
// Worker side: one listener pair for the whole process, however many transports.

function onPrimaryMessage(raw: unknown): void {
  const message = parse(raw);
  if (message === undefined) return;
  if (message.kind === 'data') {
    deliverLocally(message.channel, message.payloads, message.at);
  } else if (message.kind === 'answer') {
    pendingReads.settle(message.id, message.outcome);
  } else if (message.kind === 'control' && message.control !== 'hello') {
    workerLink = message.control === 'relay-up' ? 'connected' : 'disconnected';
    workerRelayLogs = workerLink === 'connected' && message.log;
    // The relay went away: nobody will answer what is in flight.
    if (workerLink !== 'connected') pendingReads.failAll(new Error('coherent-cache: the cluster relay stopped'));
    refreshStatuses(workerLink === 'connected' ? 'connected' : 'connection-lost');
    if (workerLink === 'connected') announceWritable();
  }
}

function onDisconnect(): void {
  workerLink = 'disconnected';
  pendingReads.failAll(new Error('coherent-cache: the IPC channel to the cluster primary is closed'));
  refreshStatuses('connection-lost');
}

function attach(endpoint: Endpoint): void {
  endpoints.add(endpoint);
  if (endpoints.size > 1 || !cluster.isWorker) return;
  process.on('message', onPrimaryMessage);
  // Prepended: cluster's own 'disconnect' handler exits the worker at once, and the caches should hear of the loss first.
  process.prependListener('disconnect', onDisconnect);
  sendToPrimary(controlMessage('hello')).catch(ignore);
}

function detach(endpoint: Endpoint): void {
  if (!endpoints.delete(endpoint) || endpoints.size > 0 || !cluster.isWorker) return;
  process.off('message', onPrimaryMessage);
  process.off('disconnect', onDisconnect);
  // Nobody hears the relay's state meanwhile: the next transport asks again.
  workerLink = 'connecting';
  workerRelayLogs = false;
  pendingReads.failAll(new Error('cluster transport is closed'));
}

// ---------------------------------------------------------------------------
// Primary side

/** Numbers what is relayed when the relay keeps a log, then sends it to every worker and this process's transports. */
function relay(channel: string, payloads: readonly string[], publish: PublishKind): Promise<void> {
  const at = relayLogs?.positionOfFirst(channel, payloads, publish);
  const sent = sendToWorkers(dataMessage(channel, payloads, 'entry', at));
  deliverLocally(channel, payloads, at);
  return sent;
}

function onWorkerMessage(worker: Worker, raw: unknown): void {
  const message = parse(raw);
  if (message === undefined || message.kind === 'answer') return;
  if (message.kind === 'control') {
    if (message.control === 'hello') worker.send(controlMessage('relay-up', relayLogs !== undefined), ignore);
    return;
  }
  if (message.kind === 'read') {
    // To the asker alone; one whose channel closed meanwhile just misses it.
    const answer = relayLogs === undefined ? { error: 'it keeps no log (installClusterRelay({ log }))' } : { log: relayLogs.read(message.channel, message.after) };
    worker.send({ [CLUSTER_IPC_MARKER]: 1, answer: message.id, ...answer }, ignore);
    return;
  }
  // Rebuilt from the checked fields, so nothing else a worker put in the message travels on. The sender gets it
  // back too: its own heartbeat's echo is how it knows the relay still forwards (its caches skip their own invalidations).
  void relay(message.channel, message.payloads, message.publish);
}

/**
 * Call in the cluster primary (before or after forking): forwards each worker's
 * invalidations to the other workers, and lets `clusterTransport()` be used in
 * the primary too. Installing it again is harmless (with the same options); the
 * relay stops once every returned uninstall function has been called (the
 * workers' caches then degrade). With `log`, it keeps each channel's log for
 * the workers' `clusterTransport({ log: true })` (see ClusterRelayOptions).
 */
export function installClusterRelay(options?: ClusterRelayOptions): () => void {
  if (cluster.isWorker) throw new Error('coherent-cache: installClusterRelay() belongs in the cluster primary; workers use clusterTransport()');
  const retention: ResolvedRetention | undefined = resolveRelayOptions(options);
  if (relayInstalls > 0 && !sameRetention(retention, relayLogs?.retention)) {
    throw new CacheOptionError('installClusterRelay.log', 'differs from the relay already installed: every install in force must keep the same log');
  }
  relayInstalls++;
  if (relayInstalls === 1) {
    if (!sameRetention(retention, relayLogs?.retention)) relayLogs = retention === undefined ? undefined : new RelayLogs(retention);
    cluster.on('message', onWorkerMessage);
    // Workers that asked before the relay existed are still waiting for the answer.
    void sendToWorkers(controlMessage('relay-up', relayLogs !== undefined));
    refreshStatuses('connected');
    announceWritable();
  }
  let installed = true;
  return () => {
    if (!installed) return;
    installed = false;
    relayInstalls--;
    if (relayInstalls > 0) return;
    cluster.off('message', onWorkerMessage);
    void sendToWorkers(controlMessage('relay-down'));
    refreshStatuses('connection-lost');
  };
}

// ---------------------------------------------------------------------------

/**
 * One endpoint on the cluster link. In a worker: connected once the primary's
 * relay answers, disconnected for good when the IPC channel closes. In the
 * primary (after `installClusterRelay()`): hears every worker and publishes to
 * all of them. Several transports in one process share one set of listeners and
 * hear each other's publishes (the cache skips its own): in a worker once the
 * relay sent them back, in the primary at once. With `{ log: true }` it has a
 * `log` (the relay's, read over IPC in a worker) and delivers positions.
 */
export class ClusterTransport implements Transport {
  readonly kind = 'cluster-ipc';
  /** The relay's log, when this transport was created with `{ log: true }`. */
  readonly log: TransportLog | undefined;
  private readonly statuses: StatusBroadcaster;
  private readonly writable = new WritableSignal();
  private readonly listeners = new ChannelListeners();
  private readonly endpoint: Endpoint;
  private closed = false;

  constructor(options?: ClusterTransportOptions) {
    const { log: logged, readTimeout } = resolveTransportOptions(options);
    if (cluster.isWorker) {
      if (process.send === undefined) throw new Error('coherent-cache: this cluster worker has no IPC channel');
    } else if (relayInstalls === 0) {
      throw new Error(
        'coherent-cache: clusterTransport() needs a node:cluster worker, or a cluster primary that called installClusterRelay() first',
      );
    }
    this.statuses = new StatusBroadcaster(statusOf(logged));
    this.endpoint = {
      logged,
      deliver: (channel, payloads, at) => {
        // Positions only for a transport that reads the log: without it a cache could not repair what they show missing.
        if (at === undefined || !logged) for (const payload of payloads) this.listeners.deliver(channel, payload);
        else for (const [index, payload] of payloads.entries()) this.listeners.deliver(channel, payload, positionAt(at, index));
      },
      refresh: (reason) => {
        // Up, but a relay without the log: lost for this transport all the same.
        const status = statusOf(logged);
        this.statuses.set(status, status === 'connected' ? 'connected' : reason === 'connected' ? 'connection-lost' : reason);
      },
      writable: () => {
        if (this.status === 'connected') this.writable.emit();
      },
    };
    this.log = logged ? { read: (channel, after) => this.readLog(channel, after, readTimeout) } : undefined;
    attach(this.endpoint);
  }

  get status(): TransportStatus {
    return this.statuses.status;
  }

  subscribe(channel: string, listener: PayloadListener): Promise<TransportSubscription> {
    if (this.closed) return Promise.reject(new Error('cluster transport is closed'));
    this.listeners.add(channel, listener);
    return Promise.resolve({
      unsubscribe: () => {
        this.listeners.remove(channel, listener);
        return Promise.resolve();
      },
    });
  }

  async publish(channel: string, payloads: readonly string[], kind: PublishKind = 'entry'): Promise<void> {
    if (this.closed) throw new Error('cluster transport is closed');
    // Fail fast while the relay cannot forward: the cache queues the keys and resends them once connected.
    if (this.status !== 'connected') throw new Error(`cluster transport is ${this.status}`);
    const batch = [...payloads];
    if (cluster.isWorker) {
      // This process's transports hear it when the relay sends it back, as every worker does.
      await sendToPrimary(dataMessage(channel, batch, kind));
      return;
    }
    // The primary is the relay: numbered now, its transports hear it once the workers were sent it, never inside the publish call.
    const at = relayLogs?.positionOfFirst(channel, batch, kind);
    await sendToWorkers(dataMessage(channel, batch, 'entry', at));
    deliverLocally(channel, batch, at);
  }

  onStatus(listener: StatusListener): () => void {
    return this.statuses.on(listener);
  }

  /** Calls `listener` each time the relay answers (installed, or answering this worker): queued publishes can go now. */
  onWritable(listener: () => void): () => void {
    return this.writable.on(listener);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.listeners.clear();
    this.writable.clear();
    detach(this.endpoint);
    this.statuses.set('closed', 'closed');
    return Promise.resolve();
  }

  /** In a worker: asks the relay over IPC, failing after `readTimeout`; in the primary: reads the relay's log in place. */
  private readLog(channel: string, after: LogCursor | undefined, readTimeout: number): Promise<LogRead> {
    if (this.status !== 'connected') return Promise.reject(new Error(`cluster transport is ${this.status}`));
    if (!cluster.isWorker) return Promise.resolve((relayLogs as RelayLogs).read(channel, after));
    const cursor = after === undefined ? null : { epoch: after.epoch, seq: after.seq };
    return pendingReads.request(sendToPrimary, (id) => ({ [CLUSTER_IPC_MARKER]: 1, read: id, channel, after: cursor }), readTimeout);
  }
}

/** Creates an endpoint on the node:cluster link (see ClusterTransport and ClusterTransportOptions). */
export function clusterTransport(options?: ClusterTransportOptions): ClusterTransport {
  return new ClusterTransport(options);
}
