/**
 * The vocabulary of wire protocol v1: its ops, the message they make, its
 * limits and the reasons a message is refused. Decoding is message.ts's job,
 * signing signing.ts's, writing writer.ts's.
 */

export const PROTOCOL_VERSION = 1;

export type InvalidationOp =
  /** `ack` (on any op that invalidates): the publisher asks every receiver to confirm (see the `ack` op) once it has applied it. */
  | { readonly op: 'del'; readonly keys: readonly string[]; readonly ack?: number }
  | { readonly op: 'clear'; readonly ack?: number }
  /** A heartbeat: its echo proves the channel to its sender (renewing its lease), and it announces the sender to its peers. */
  | { readonly op: 'beat' }
  /**
   * A confirmation, sent to every instance but for instance `to` only: the
   * sender applied every message of `to` up to the one that asked with `ack`
   * (one channel delivers in order, so an ack confirms the earlier requests too).
   */
  | { readonly op: 'ack'; readonly ack: number; readonly to: string }
  /** Soft invalidation of keys: stale at once, kept for stale-if-error. */
  | { readonly op: 'expire'; readonly keys: readonly string[]; readonly ack?: number }
  /** The entries carrying any of these tags: dropped (`tag`) or made stale (`expire-tag`). */
  | { readonly op: 'tag' | 'expire-tag'; readonly tags: readonly string[]; readonly ack?: number }
  /** Every key starting with one of these prefixes (a namespace's invalidateAll). */
  | { readonly op: 'prefix'; readonly prefixes: readonly string[]; readonly ack?: number };

/** The ops that name a list, and the field that carries it (each is checked against the key limits). */
export const ITEM_FIELDS = { del: 'keys', expire: 'keys', tag: 'tags', 'expire-tag': 'tags', prefix: 'prefixes' } as const;
export type ItemOp = keyof typeof ITEM_FIELDS;

export function isItemOp(op: unknown): op is ItemOp {
  return typeof op === 'string' && Object.hasOwn(ITEM_FIELDS, op);
}

/** The list an op names (keys, tags or prefixes), or undefined for a clear and a beat. */
export function itemsOf(op: InvalidationOp): readonly string[] | undefined {
  if (op.op === 'del' || op.op === 'expire') return op.keys;
  if (op.op === 'tag' || op.op === 'expire-tag') return op.tags;
  return op.op === 'prefix' ? op.prefixes : undefined;
}

export type InvalidationMessage = InvalidationOp & {
  readonly v: 1;
  /** Name of the cache the message is for. */
  readonly cache: string;
  /** Instance id of the publisher (see `newInstanceId`). */
  readonly origin: string;
  /** The publisher's `Date.now()` in ms when it sent the message (propagation lag). */
  readonly sentAt: number;
  /** W3C traceparent of the publishing span. */
  readonly traceparent?: string;
};

/** Every reason a message can be rejected for. Fixed and small: it is a metric label. */
export const REJECT_REASONS = [
  'too-large',
  'not-json',
  'bad-shape',
  'unknown-version',
  'too-many-keys',
  'bad-key',
  'unsigned',
  'bad-signature',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** `detail` is short text for logs; it quotes at most ~32 characters of the input. */
export type DecodeFailure = { readonly ok: false; readonly reason: RejectReason; readonly detail: string };
export type DecodeResult<M = InvalidationMessage> = { readonly ok: true; readonly message: M } | DecodeFailure;

export interface ProtocolLimits {
  /** Largest accepted message in bytes (UTF-8), checked before parsing. */
  readonly maxMessageBytes: number;
  /** Most keys (tags, prefixes) one message may carry. */
  readonly maxKeysPerMessage: number;
  /** Longest accepted key (tag, prefix), in UTF-16 code units (`string.length`). */
  readonly maxKeyLength: number;
}

export const DEFAULT_LIMITS: ProtocolLimits = Object.freeze({
  maxMessageBytes: 64 * 1024,
  maxKeysPerMessage: 1000,
  maxKeyLength: 1024,
});

/** Longest accepted `cache` and `origin`, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 256;

/** Longest accepted `traceparent` (a version-00 one is 55 characters; later versions may append fields). */
export const MAX_TRACEPARENT_LENGTH = 256;
