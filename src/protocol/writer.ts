/**
 * Writing messages: `encodeMessage` for any caller (it validates), and for
 * the cache's own messages `MessageWriter`, which serializes its constant
 * parts once. Both write the canonical form the reader (canonical-reader.ts)
 * reads without JSON.parse.
 */
import { IntegerText, quoteJson } from './json-text.ts';
import {
  ITEM_FIELDS,
  itemsOf,
  messageOf,
  PROTOCOL_VERSION,
  ProtocolEncodeError,
  signatureOf,
  validate,
  DEFAULT_LIMITS,
  type EncodeOptions,
  type InvalidationMessage,
  type ItemOp,
  type ProtocolLimits,
  type Secret,
} from './message.ts';

/**
 * Serializes a message. Throws `ProtocolEncodeError` when receivers with
 * `options.limits` would reject it (e.g. too many keys: split the keys, or
 * publish a clear), and a RangeError for an empty secret.
 */
export function encodeMessage(message: InvalidationMessage, options: EncodeOptions = {}): string {
  const limits = options.limits ?? DEFAULT_LIMITS;
  // Validate the known fields only: the caller's object may carry extra properties.
  const fields: Record<string, unknown> = { v: message.v, cache: message.cache, op: message.op, origin: message.origin, sentAt: message.sentAt };
  const items = itemsOf(message);
  if (items !== undefined) fields[ITEM_FIELDS[message.op as ItemOp]] = items;
  if (message.traceparent !== undefined) fields.traceparent = message.traceparent;
  if (message.op !== 'beat' && message.ack !== undefined) fields.ack = message.ack;
  if (message.op === 'ack') fields.to = message.to;
  const checked = validate(fields, limits);
  if (!checked.ok) throw new ProtocolEncodeError(checked.reason, checked.detail);
  return serializeMessage(checked.message, limits, options.secret);
}

/**
 * The wire form of a message already known to be valid (validated, or built by
 * the cache from checked parts: its name, its instance id, keys within the
 * length limit). Only the byte size is left to check. Throws like encodeMessage.
 */
export function serializeMessage(message: InvalidationMessage, limits: ProtocolLimits, secret: Secret | undefined): string {
  const wire: Record<string, unknown> = { v: message.v, cache: message.cache, op: message.op };
  const items = itemsOf(message);
  if (items !== undefined) wire[ITEM_FIELDS[message.op as ItemOp]] = items;
  wire.origin = message.origin;
  wire.sentAt = message.sentAt;
  if (message.traceparent !== undefined) wire.traceparent = message.traceparent;
  if (message.op !== 'beat' && message.ack !== undefined) wire.ack = message.ack;
  if (message.op === 'ack') wire.to = message.to;
  if (secret !== undefined) {
    if (secret.length === 0) throw new RangeError('the signing secret must not be empty');
    wire.sig = signatureOf(message, secret);
  }
  return sized(JSON.stringify(wire), limits);
}

/** Returns `text` when it fits `limits.maxMessageBytes`; throws a `too-large` ProtocolEncodeError otherwise. */
function sized(text: string, limits: ProtocolLimits): string {
  // UTF-8 is at most 3 bytes per UTF-16 unit: measure only when it could matter.
  if (text.length * 3 > limits.maxMessageBytes) {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > limits.maxMessageBytes) throw new ProtocolEncodeError('too-large', `message is ${bytes} bytes, limit ${limits.maxMessageBytes}`);
  }
  return text;
}

/**
 * Writes the messages of one publisher: one cache name, one instance id. The
 * parts that never change are serialized once, so an unsigned message is a few
 * string concatenations, byte for byte what `serializeMessage` writes (the
 * field order above; keys and the timestamp through json-text.ts, which writes
 * what JSON.stringify does). A signed message goes through `serializeMessage`.
 * The caller vouches for what it passes, as for `serializeMessage`.
 */
export class MessageWriter {
  /** `{"v":1,"cache":"…","op":` */
  private readonly head: string;
  /** `,"origin":"…","sentAt":` */
  private readonly originPart: string;
  private readonly sentAtText = new IntegerText();

  constructor(
    private readonly cache: string,
    private readonly origin: string,
    private readonly limits: ProtocolLimits,
    private readonly secret: Secret | undefined,
  ) {
    if (secret !== undefined && secret.length === 0) throw new RangeError('the signing secret must not be empty');
    this.head = `{"v":${PROTOCOL_VERSION},"cache":${JSON.stringify(cache)},"op":`;
    this.originPart = `,"origin":${JSON.stringify(origin)},"sentAt":`;
  }

  del(keys: readonly string[], sentAt: number, traceparent: string | undefined): string {
    if (this.secret !== undefined) return this.signed('del', keys, sentAt, traceparent);
    let list = '';
    for (const key of keys) list += list === '' ? quoteJson(key) : `,${quoteJson(key)}`;
    return sized(`${this.head}"del","keys":[${list}]${this.originPart}${this.sentAtText.of(sentAt)}${this.tail(traceparent)}`, this.limits);
  }

  /** A message naming a list other than a del's keys: soft invalidations, tags, namespaces (rarer: JSON.stringify writes it); with `ack`, it asks for confirmation like `asking`. */
  items(op: Exclude<ItemOp, 'del'>, items: readonly string[], sentAt: number, traceparent: string | undefined, ack?: number): string {
    const message = messageOf(this.cache, this.origin, sentAt, op, items, traceparent);
    return serializeMessage(ack === undefined ? message : ({ ...message, ack } as InvalidationMessage), this.limits, this.secret);
  }

  clear(sentAt: number, traceparent: string | undefined): string {
    if (this.secret !== undefined) return this.signed('clear', undefined, sentAt, traceparent);
    return sized(`${this.head}"clear"${this.originPart}${this.sentAtText.of(sentAt)}${this.tail(traceparent)}`, this.limits);
  }

  /** A heartbeat (no trace: it is the library's own traffic, not a caller's operation). */
  beat(sentAt: number): string {
    if (this.secret !== undefined) return this.signed('beat', undefined, sentAt, undefined);
    return sized(`${this.head}"beat"${this.originPart}${this.sentAtText.of(sentAt)}}`, this.limits);
  }

  /**
   * A del or clear that asks every receiver to confirm with an ack message
   * (request `ack`). Rare, so written by the generic serializer: the common
   * messages above stay as they are.
   */
  asking(keys: readonly string[] | undefined, ack: number, sentAt: number, traceparent: string | undefined): string {
    const message = messageOf(this.cache, this.origin, sentAt, keys === undefined ? 'clear' : 'del', keys, traceparent);
    return serializeMessage({ ...message, ack } as InvalidationMessage, this.limits, this.secret);
  }

  /** Confirms to instance `to` that every message of its up to request `ack` was applied here. */
  ack(ack: number, to: string, sentAt: number): string {
    return serializeMessage({ v: PROTOCOL_VERSION, cache: this.cache, op: 'ack', ack, to, origin: this.origin, sentAt }, this.limits, this.secret);
  }

  private tail(traceparent: string | undefined): string {
    return traceparent === undefined ? '}' : `,"traceparent":${JSON.stringify(traceparent)}}`;
  }

  private signed(op: 'del' | 'clear' | 'beat', keys: readonly string[] | undefined, sentAt: number, traceparent: string | undefined): string {
    return serializeMessage(messageOf(this.cache, this.origin, sentAt, op, keys, traceparent), this.limits, this.secret);
  }
}
