/**
 * The shared configuration store: it lives in the primary and is slow on
 * purpose (every read takes `readDelayMs`, as a database round-trip would),
 * which is what makes a cache worth having. Workers reach it over IPC with the
 * demo's own tagged request/response messages (ipc.ts).
 *
 * A read takes its snapshot when the request arrives and answers after the
 * delay, so a read racing a write comes back with the old version: the case the
 * cache's load fencing exists for.
 */
import type { Worker } from 'node:cluster';
import { setTimeout as delay } from 'node:timers/promises';
import { DEMO_TAG, isPrimaryMessage, isWorkerMessage, sendToWorker, type ConfigRecord, type PrimaryMessage, type WorkerMessage } from './ipc.ts';

export interface StoreTimings {
  /** ms every read takes. */
  readonly readDelayMs: number;
  /** ms every write takes. */
  readonly writeDelayMs: number;
}

export class ConfigStore {
  private readonly records = new Map<string, ConfigRecord>();
  reads = 0;
  writes = 0;
  /** Called once a write's answer is written to its worker (--chaos primary-stall waits for one). */
  afterWriteAnswered: (() => void) | undefined;

  constructor(
    ids: readonly string[],
    private readonly timings: StoreTimings = { readDelayMs: 3, writeDelayMs: 5 },
  ) {
    const now = Date.now();
    for (const id of ids) this.records.set(id, { id, version: 1, value: 'initial', updatedAt: now });
  }

  async read(id: string): Promise<ConfigRecord | null> {
    this.reads++;
    const snapshot = this.records.get(id) ?? null;
    await delay(this.timings.readDelayMs);
    return snapshot;
  }

  /** Writes `value` and bumps the version (creating the record at version 1 when absent). */
  async write(id: string, value: string): Promise<ConfigRecord> {
    this.writes++;
    await delay(this.timings.writeDelayMs);
    const previous = this.records.get(id);
    const record: ConfigRecord = { id, version: (previous?.version ?? 0) + 1, value, updatedAt: Date.now() };
    this.records.set(id, record);
    return record;
  }
}

/** Answers one worker's store requests. Returns the function that stops listening. */
export function serveStore(store: ConfigStore, worker: Worker): () => void {
  // The worker may have died meanwhile (chaos): its request simply goes unanswered.
  const reply = (message: PrimaryMessage, sent?: () => void): void => sendToWorker(worker, message, sent);
  const onMessage = (message: unknown): void => {
    if (!isWorkerMessage(message)) return;
    if (message.kind !== 'store.read' && message.kind !== 'store.write') return;
    const { reqId } = message;
    const write = message.kind === 'store.write';
    const done = write ? store.write(message.id, message.value) : store.read(message.id);
    done.then(
      (record) => reply({ tag: DEMO_TAG, kind: 'store.reply', reqId, record }, write ? () => store.afterWriteAnswered?.() : undefined),
      (error: unknown) => reply({ tag: DEMO_TAG, kind: 'store.error', reqId, error: String(error) }),
    );
  };
  worker.on('message', onMessage);
  return () => worker.off('message', onMessage);
}

/** The store seen from a worker: each call is one IPC round-trip to the primary. */
export class StoreClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (record: ConfigRecord | null) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  private readonly onMessage = (message: unknown): void => {
    if (!isPrimaryMessage(message) || (message.kind !== 'store.reply' && message.kind !== 'store.error')) return;
    const call = this.pending.get(message.reqId);
    if (call === undefined) return;
    this.pending.delete(message.reqId);
    clearTimeout(call.timer);
    if (message.kind === 'store.reply') call.resolve(message.record);
    else call.reject(new Error(`store: ${message.error}`));
  };

  constructor(private readonly timeoutMs = 2_000) {
    process.on('message', this.onMessage);
  }

  read(id: string): Promise<ConfigRecord | null> {
    return this.call({ tag: DEMO_TAG, kind: 'store.read', reqId: this.nextId++, id });
  }

  async write(id: string, value: string): Promise<ConfigRecord> {
    const record = await this.call({ tag: DEMO_TAG, kind: 'store.write', reqId: this.nextId++, id, value });
    if (record === null) throw new Error(`store: write of ${id} returned nothing`);
    return record;
  }

  /** Stops listening; calls still pending reject. */
  close(): void {
    process.off('message', this.onMessage);
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(new Error('store client closed'));
    }
    this.pending.clear();
  }

  private call(message: Extract<WorkerMessage, { reqId: number }>): Promise<ConfigRecord | null> {
    const send = process.send?.bind(process);
    if (send === undefined || !process.connected) return Promise.reject(new Error('store: no IPC channel to the primary'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(message.reqId);
        reject(new Error(`store: no reply to ${message.kind} ${message.id} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(message.reqId, { resolve, reject, timer });
      send(message, undefined, undefined, (error: Error | null) => {
        if (error === null) return;
        this.pending.delete(message.reqId);
        clearTimeout(timer);
        reject(error);
      });
    });
  }
}
