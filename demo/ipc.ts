/**
 * The demo's own IPC messages between the primary and its workers (the config
 * store's request/response, readiness, shutdown). Every message carries
 * `tag: DEMO_TAG`, so they never mix with the cluster transport's messages
 * travelling on the same channel, and each side ignores whatever lacks it.
 */
import type { Worker } from 'node:cluster';

export const DEMO_TAG = 'coherent-cache-demo';

/** One configuration as the store keeps it. Every write bumps `version`. */
export interface ConfigRecord {
  readonly id: string;
  readonly version: number;
  readonly value: string;
  /** Store clock (primary's `Date.now()`) of the write that produced this version. */
  readonly updatedAt: number;
}

export type WorkerMessage =
  | { readonly tag: typeof DEMO_TAG; readonly kind: 'ready'; readonly port: number; readonly transport: string }
  | { readonly tag: typeof DEMO_TAG; readonly kind: 'store.read'; readonly reqId: number; readonly id: string }
  | { readonly tag: typeof DEMO_TAG; readonly kind: 'store.write'; readonly reqId: number; readonly id: string; readonly value: string }
  | { readonly tag: typeof DEMO_TAG; readonly kind: 'failed'; readonly error: string };

export type PrimaryMessage =
  | { readonly tag: typeof DEMO_TAG; readonly kind: 'store.reply'; readonly reqId: number; readonly record: ConfigRecord | null }
  | { readonly tag: typeof DEMO_TAG; readonly kind: 'store.error'; readonly reqId: number; readonly error: string }
  | { readonly tag: typeof DEMO_TAG; readonly kind: 'shutdown' };

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return isTagged(value);
}

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  return isTagged(value);
}

/** Sends to a worker unless it is gone (killed by chaos, or exited): then the message is dropped. `sent`: once it is written. */
export function sendToWorker(worker: Worker, message: PrimaryMessage, sent: () => void = () => undefined): void {
  if (worker.isConnected()) worker.send(message, undefined, () => sent());
}

function isTagged(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { tag?: unknown }).tag === DEMO_TAG && typeof (value as { kind?: unknown }).kind === 'string';
}
