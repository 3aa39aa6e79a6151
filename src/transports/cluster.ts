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
 * Every message this module sends carries the key CLUSTER_IPC_MARKER, so the
 * application's own IPC messages are never touched, and anything marked that
 * does not have the expected shape is dropped (the cache validates payload
 * contents). A worker counts as connected once the relay has answered it: a
 * primary that never installed the relay leaves the workers' caches degraded
 * instead of silently incoherent.
 *
 * The transport starts no timer and opens nothing: a worker's IPC channel is
 * what keeps it alive, with or without this transport.
 */
import cluster, { type Worker } from 'node:cluster';
import { StatusBroadcaster, WritableSignal } from './status-listeners.ts';
import { ChannelListeners } from './channel-listeners.ts';
import { type PayloadListener, type StatusListener, type Transport, type TransportStatus, type TransportStatusReason, type TransportSubscription } from './transport.ts';

/** The key that marks this transport's IPC messages (`{ [CLUSTER_IPC_MARKER]: 1, ... }`). */
export const CLUSTER_IPC_MARKER = 'coherent-cache:ipc';

/** Worker to primary: "is a relay there?"; primary to worker: the relay's state. */
type Control = 'hello' | 'relay-up' | 'relay-down';

type ParsedMessage = { kind: 'data'; channel: string; payloads: string[] } | { kind: 'control'; control: Control };

const CONTROLS: ReadonlySet<unknown> = new Set<Control>(['hello', 'relay-up', 'relay-down']);

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
  const { channel, payloads, control } = raw as Record<string, unknown>;
  if (control !== undefined) return CONTROLS.has(control) ? { kind: 'control', control: control as Control } : undefined;
  if (typeof channel !== 'string' || !Array.isArray(payloads)) return undefined;
  const strings: string[] = [];
  // An indexed loop, not every(): a sparse array's holes must fail the check too.
  for (let i = 0; i < payloads.length; i++) {
    const payload: unknown = payloads[i];
    if (typeof payload !== 'string') return undefined;
    strings.push(payload);
  }
  return { kind: 'data', channel, payloads: strings };
}

const dataMessage = (channel: string, payloads: readonly string[]) => ({ [CLUSTER_IPC_MARKER]: 1, channel, payloads });
const controlMessage = (control: Control) => ({ [CLUSTER_IPC_MARKER]: 1, control });

/** What the process-wide link needs from each open transport. */
interface Endpoint {
  deliver(channel: string, payloads: readonly string[]): void;
  setStatus(status: TransportStatus, reason: TransportStatusReason): void;
  /** The relay answered (again): what failed to send may be sent now. */
  writable(): void;
}

/** This process's open transports: whatever arrives (in the primary, its own publishes too) reaches all of them. */
const endpoints = new Set<Endpoint>();
/** Worker side: `connected` once the primary's relay has answered, `disconnected` once it or the IPC channel went away. */
let workerLink: TransportStatus = 'connecting';
/** Primary side: how many installClusterRelay() calls are in force (the relay itself is installed once). */
let relayInstalls = 0;

const ignore = (): void => undefined;

function deliverLocally(channel: string, payloads: readonly string[]): void {
  for (const endpoint of [...endpoints]) endpoint.deliver(channel, payloads);
}

function setStatuses(status: TransportStatus, reason: TransportStatusReason): void {
  for (const endpoint of [...endpoints]) endpoint.setStatus(status, reason);
}

function announceWritable(): void {
  for (const endpoint of [...endpoints]) endpoint.writable();
}

function workerStatus(): TransportStatus {
  return process.connected ? workerLink : 'disconnected';
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
    deliverLocally(message.channel, message.payloads);
  } else if (message.control !== 'hello') {
    workerLink = message.control === 'relay-up' ? 'connected' : 'disconnected';
    setStatuses(workerStatus(), workerLink === 'connected' ? 'connected' : 'connection-lost');
    if (workerLink === 'connected') announceWritable();
  }
}

function onDisconnect(): void {
  workerLink = 'disconnected';
  setStatuses('disconnected', 'connection-lost');
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
}

// ---------------------------------------------------------------------------
// Primary side

function onWorkerMessage(worker: Worker, raw: unknown): void {
  const message = parse(raw);
  if (message === undefined) return;
  if (message.kind === 'control') {
    if (message.control === 'hello') worker.send(controlMessage('relay-up'), ignore);
    return;
  }
  // Rebuilt from the checked fields, so nothing else a worker put in the message travels on. The sender gets it
  // back too: its own heartbeat's echo is how it knows the relay still forwards (its caches skip their own invalidations).
  void sendToWorkers(dataMessage(message.channel, message.payloads));
  deliverLocally(message.channel, message.payloads);
}

/**
 * Call in the cluster primary (before or after forking): forwards each worker's
 * invalidations to the other workers, and lets `clusterTransport()` be used in
 * the primary too. Installing it again is harmless; the relay stops once every
 * returned uninstall function has been called (the workers' caches then degrade).
 */
export function installClusterRelay(): () => void {
  if (cluster.isWorker) throw new Error('coherent-cache: installClusterRelay() belongs in the cluster primary; workers use clusterTransport()');
  relayInstalls++;
  if (relayInstalls === 1) {
    cluster.on('message', onWorkerMessage);
    // Workers that asked before the relay existed are still waiting for the answer.
    void sendToWorkers(controlMessage('relay-up'));
    setStatuses('connected', 'connected');
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
    setStatuses('disconnected', 'connection-lost');
  };
}

// ---------------------------------------------------------------------------

/**
 * One endpoint on the cluster link. In a worker: connected once the primary's
 * relay answers, disconnected for good when the IPC channel closes. In the
 * primary (after `installClusterRelay()`): hears every worker and publishes to
 * all of them. Several transports in one process share one set of listeners and
 * hear each other's publishes (the cache skips its own): in a worker once the
 * relay sent them back, in the primary at once.
 */
export class ClusterTransport implements Transport {
  readonly kind = 'cluster-ipc';
  private readonly statuses: StatusBroadcaster;
  private readonly writable = new WritableSignal();
  private readonly listeners = new ChannelListeners();
  private readonly endpoint: Endpoint;
  private closed = false;

  constructor() {
    if (cluster.isWorker) {
      if (process.send === undefined) throw new Error('coherent-cache: this cluster worker has no IPC channel');
      this.statuses = new StatusBroadcaster(workerStatus());
    } else if (relayInstalls > 0) {
      this.statuses = new StatusBroadcaster('connected');
    } else {
      throw new Error(
        'coherent-cache: clusterTransport() needs a node:cluster worker, or a cluster primary that called installClusterRelay() first',
      );
    }
    this.endpoint = {
      deliver: (channel, payloads) => {
        for (const payload of payloads) this.listeners.deliver(channel, payload);
      },
      setStatus: (status, reason) => this.statuses.set(status, reason),
      writable: () => this.writable.emit(),
    };
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

  async publish(channel: string, payloads: readonly string[]): Promise<void> {
    if (this.closed) throw new Error('cluster transport is closed');
    // Fail fast while the relay cannot forward: the cache queues the keys and resends them once connected.
    if (this.status !== 'connected') throw new Error(`cluster transport is ${this.status}`);
    const batch = [...payloads];
    const message = dataMessage(channel, batch);
    if (cluster.isWorker) {
      // This process's transports hear it when the relay sends it back, as every worker does.
      await sendToPrimary(message);
      return;
    }
    await sendToWorkers(message);
    // The primary is the relay: its transports hear it here, later, not inside the publish call.
    deliverLocally(channel, batch);
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
}

/** Creates an endpoint on the node:cluster link (see ClusterTransport). */
export function clusterTransport(): ClusterTransport {
  return new ClusterTransport();
}
