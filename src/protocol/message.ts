/**
 * The invalidation message caches publish to each other (wire protocol v1).
 *
 * Wire form: one JSON object, fields in this order (the order is cosmetic for
 * the decoder, but `encodeMessage` always writes it):
 *   {"v":1,"cache":"config","op":"del","keys":["a","b"],"origin":"inst_x",
 *    "sentAt":1700000000000,"traceparent":"00-…-…-01","sig":"…"}
 *
 * Decoding treats the input as hostile: it never throws, never returns the
 * parsed object (the message is rebuilt from the checked fields, so nothing
 * but them reaches the cache), and rejects with one of a fixed set of reasons
 * that is safe to use as a metric label.
 */
import { randomBytes } from 'node:crypto';
import { readCanonical } from './canonical-reader.ts';
import { verifySignature, type Secret } from './signing.ts';
import {
  DEFAULT_LIMITS,
  ITEM_FIELDS,
  MAX_NAME_LENGTH,
  MAX_TRACEPARENT_LENGTH,
  PROTOCOL_VERSION,
  isItemOp,
  type DecodeFailure,
  type DecodeResult,
  type InvalidationMessage,
  type ProtocolLimits,
  type RejectReason,
} from './wire.ts';

export { signatureOf } from './signing.ts';

export {
  DEFAULT_LIMITS,
  ITEM_FIELDS,
  MAX_NAME_LENGTH,
  MAX_TRACEPARENT_LENGTH,
  PROTOCOL_VERSION,
  REJECT_REASONS,
  isItemOp,
  itemsOf,
  type DecodeFailure,
  type DecodeResult,
  type InvalidationMessage,
  type InvalidationOp,
  type ItemOp,
  type ProtocolLimits,
  type RejectReason,
} from './wire.ts';

export type LimitsInput = { readonly [K in keyof ProtocolLimits]?: number | undefined };

/**
 * Fills in defaults and checks every limit is a positive safe integer.
 * Throws a RangeError on a bad value: this is configuration, not wire input.
 */
export function resolveLimits(input: LimitsInput = {}): ProtocolLimits {
  const limits = {
    maxMessageBytes: input.maxMessageBytes ?? DEFAULT_LIMITS.maxMessageBytes,
    maxKeysPerMessage: input.maxKeysPerMessage ?? DEFAULT_LIMITS.maxKeysPerMessage,
    maxKeyLength: input.maxKeyLength ?? DEFAULT_LIMITS.maxKeyLength,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      // A quoted snippet, not the value: a long string is not echoed back.
      throw new RangeError(`protocol limit ${name} must be a positive integer, got ${typeof value === 'string' ? quoteSnippet(value) : String(value)}`);
    }
  }
  return Object.freeze(limits);
}

export type { Secret } from './signing.ts';

export interface DecodeOptions {
  /** Use `resolveLimits` to build them; defaults to `DEFAULT_LIMITS`. */
  readonly limits?: ProtocolLimits | undefined;
  /** When set, only messages signed with this secret are accepted. */
  readonly secret?: Secret | undefined;
}

export interface EncodeOptions {
  /** The receivers' limits: encoding refuses a message they would reject. Defaults to `DEFAULT_LIMITS`. */
  readonly limits?: ProtocolLimits | undefined;
  /** When set, the message carries a `sig` (see `signatureOf`). */
  readonly secret?: Secret | undefined;
}

/** Thrown by the encoders for a message the receivers would reject; `reason` says which check. */
export class ProtocolEncodeError extends Error {
  override readonly name = 'ProtocolEncodeError';
  readonly reason: RejectReason;
  constructor(reason: RejectReason, detail: string) {
    super(`cannot encode invalidation (${reason}): ${detail}`);
    this.reason = reason;
  }
}

/** `inst_` + 16 hex chars (64 random bits); the legacy module used the same prefix. */
export function newInstanceId(): string {
  return `inst_${randomBytes(8).toString('hex')}`;
}

const ALLOWED_FIELDS: ReadonlySet<string> = new Set(['v', 'cache', 'op', 'keys', 'tags', 'prefixes', 'origin', 'sentAt', 'traceparent', 'ack', 'to', 'sig']);

/**
 * W3C Trace Context `traceparent`: version-traceid-parentid-flags, lowercase hex.
 * Version ff is invalid, all-zero ids are invalid, version 00 has nothing after the
 * flags, and a later version may append `-…` (printable ASCII) per the spec's
 * forward-compatibility rule.
 */
const TRACEPARENT_PATTERN =
  /^(?!ff)([0-9a-f]{2})-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}(-[\x21-\x7e]*)?$/;

export function isValidTraceparent(value: string): boolean {
  if (value.length > MAX_TRACEPARENT_LENGTH) return false;
  const match = TRACEPARENT_PATTERN.exec(value);
  if (match === null) return false;
  return !(match[1] === '00' && match[2] !== undefined);
}

/**
 * @internal Quotes at most `max` characters of untrusted text for a `detail`,
 * escaped so control characters cannot forge log lines.
 */
export function quoteSnippet(text: string, max = 32): string {
  return text.length <= max ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, max))}…`;
}

function reject(reason: RejectReason, detail: string): DecodeFailure {
  return { ok: false, reason, detail };
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * @internal A parsed message. `canonical`: read by the canonical reader, so its
 * own properties are exactly some of the v1 fields with `v` = 1 (the values
 * still need checking).
 */
export type ParsedWireObject = { readonly ok: true; readonly object: Readonly<Record<string, unknown>>; readonly canonical: boolean };

/**
 * @internal Size check (before anything else), UTF-8 decoding, parsing (the
 * canonical reader, else JSON.parse), and "is a plain JSON object". Shared
 * with the legacy codec. Never throws.
 */
export function parseWireObject(
  raw: string | Uint8Array,
  limits: ProtocolLimits,
): ParsedWireObject | DecodeFailure {
  const max = limits.maxMessageBytes;
  let text: string;
  if (typeof raw === 'string') {
    // UTF-8 needs at least one byte per UTF-16 unit, so a long string is rejected
    // without measuring it; `!(x <= max)` also fails closed on a NaN limit.
    if (!(raw.length <= max) || (raw.length * 3 > max && !(Buffer.byteLength(raw, 'utf8') <= max))) {
      return reject('too-large', `message exceeds ${max} bytes`);
    }
    text = raw;
  } else if (raw instanceof Uint8Array) {
    if (!(raw.byteLength <= max)) {
      return reject('too-large', `message is ${raw.byteLength} bytes, limit ${max}`);
    }
    try {
      text = utf8.decode(raw);
    } catch {
      return reject('not-json', 'message is not valid UTF-8');
    }
  } else {
    return reject('not-json', `message is a ${typeName(raw)}, not a string or bytes`);
  }

  // What peers write takes the fast path; anything else gets the full parser.
  const canonical = readCanonical(text);
  if (canonical !== undefined) return { ok: true, object: canonical, canonical: true };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The engine's error text quotes the input, so it is not passed on.
    return reject('not-json', 'message is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return reject('bad-shape', `message is JSON ${typeName(parsed)}, not an object`);
  }
  return { ok: true, object: parsed as Record<string, unknown>, canonical: false };
}

/** Reads an own property only: never falls through to Object.prototype. */
function own(object: Readonly<Record<string, unknown>>, field: string): unknown {
  return Object.hasOwn(object, field) ? object[field] : undefined;
}

function checkName(value: unknown, field: string): DecodeFailure | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NAME_LENGTH) {
    return reject('bad-shape', `${field} must be a string of 1 to ${MAX_NAME_LENGTH} characters`);
  }
  return undefined;
}

type Validated = { readonly ok: true; readonly message: InvalidationMessage; readonly sig: unknown };

/**
 * Checks a JSON object against the v1 shape and the limits, then builds a fresh
 * message from the checked primitives. Used on decode (parsed input) and on
 * encode (so a publisher cannot emit what receivers would reject). This runs
 * on every received message, so it allocates nothing it does not return: the
 * keys array is the parsed one, which the parser made fresh and which holds
 * nothing but the strings checked here.
 */
export function validate(object: Readonly<Record<string, unknown>>, limits: ProtocolLimits): Validated | DecodeFailure {
  // The version comes first so a future version's message (with new fields) is
  // counted as `unknown-version` rather than `bad-shape`.
  const v = own(object, 'v');
  if (typeof v !== 'number') return reject('bad-shape', `v must be the number ${PROTOCOL_VERSION}`);
  if (v !== PROTOCOL_VERSION) return reject('unknown-version', `unsupported version ${v}`);

  // Object.keys lists own properties, including an own "__proto__" that JSON.parse creates.
  const op = own(object, 'op');
  const listField = isItemOp(op) ? ITEM_FIELDS[op] : 'keys';
  for (const field of Object.keys(object)) {
    if (!ALLOWED_FIELDS.has(field)) return reject('bad-shape', `unknown field ${quoteSnippet(field)}`);
    // One list, the one its op names: a `tag` message with `keys` is not a message of this version.
    if ((field === 'tags' || field === 'prefixes' || field === 'keys') && field !== listField) return reject('bad-shape', `a ${String(op).slice(0, 16)} message carries no ${field}`);
  }
  return validateFields(
    own(object, 'cache'),
    own(object, 'origin'),
    own(object, 'sentAt'),
    op,
    own(object, listField),
    own(object, 'traceparent'),
    own(object, 'sig'),
    limits,
    // Only messages that ask for or give a confirmation have these: no object for the others.
    Object.hasOwn(object, 'ack') || Object.hasOwn(object, 'to') ? { ack: own(object, 'ack'), to: own(object, 'to') } : undefined,
  );
}

/**
 * The checks on the values of the v1 fields, shared by `validate` and the
 * canonical path (whose field names and version the canonical reader already
 * pinned: it skips the name checks, which cost more than the values' on an
 * idle receiver).
 */
function validateFields(
  cache: unknown,
  origin: unknown,
  sentAt: unknown,
  op: unknown,
  rawKeys: unknown,
  traceparent: unknown,
  sig: unknown,
  limits: ProtocolLimits,
  acks: { readonly ack: unknown; readonly to: unknown } | undefined,
): Validated | DecodeFailure {
  const badName = checkName(cache, 'cache') ?? checkName(origin, 'origin');
  if (badName !== undefined) return badName;
  if (typeof sentAt !== 'number' || !Number.isFinite(sentAt) || sentAt < 0) {
    return reject('bad-shape', 'sentAt must be a finite number >= 0');
  }
  if (traceparent !== undefined && (typeof traceparent !== 'string' || !isValidTraceparent(traceparent))) {
    return reject('bad-shape', 'traceparent is not a valid W3C traceparent');
  }
  if (sig !== undefined && typeof sig !== 'string') return reject('bad-shape', 'sig must be a string');

  let keys: string[] | undefined;
  if (op === 'clear' || op === 'beat') {
    if (rawKeys !== undefined) return reject('bad-shape', `a ${op} message carries no keys`);
  } else if (isItemOp(op)) {
    const field = ITEM_FIELDS[op];
    if (!Array.isArray(rawKeys) || rawKeys.length === 0) {
      return reject('bad-shape', `${field} must be a non-empty array`);
    }
    if (!(rawKeys.length <= limits.maxKeysPerMessage)) {
      return reject('too-many-keys', `${rawKeys.length} ${field}, limit ${limits.maxKeysPerMessage}`);
    }
    // Tags and prefixes are never empty: an empty prefix would name every key.
    const least = op === 'del' || op === 'expire' ? 0 : 1;
    for (let i = 0; i < rawKeys.length; i++) {
      const key: unknown = rawKeys[i];
      if (typeof key !== 'string') return reject('bad-shape', `${field} ${i} is a ${typeName(key)}, not a string`);
      if (!(key.length <= limits.maxKeyLength) || key.length < least) {
        return reject('bad-key', `${field} ${i} is ${key.length} characters, limit ${least} to ${limits.maxKeyLength}`);
      }
    }
    keys = rawKeys as string[];
  } else if (op === 'ack') {
    if (rawKeys !== undefined) return reject('bad-shape', 'an ack message carries no keys');
    if (acks === undefined) return reject('bad-shape', 'an ack message needs ack and to');
  } else {
    return reject('bad-shape', 'op must be "del", "clear", "beat", "ack", "expire", "tag", "expire-tag" or "prefix"');
  }

  // `+ 0` turns a -0 (valid JSON) into 0 so the message re-encodes to the same value.
  const message = messageOf(cache as string, origin as string, sentAt + 0, op, keys, traceparent);
  if (acks === undefined) return { ok: true, message, sig };
  const withAck = checkAck(message, acks.ack, acks.to);
  return withAck.ok ? { ok: true, message: withAck.message, sig } : withAck;
}

/** A request for confirmation (any op that invalidates: `ack` only) or a confirmation (ack: `ack` and `to`), checked and added to `message`. */
function checkAck(message: InvalidationMessage, ack: unknown, to: unknown): DecodeResult {
  if (typeof ack !== 'number' || !Number.isSafeInteger(ack) || ack < 1) return reject('bad-shape', 'ack must be a positive whole number');
  if (message.op === 'beat') return reject('bad-shape', `a ${message.op} message carries no ack`);
  if (message.op !== 'ack') return to === undefined ? { ok: true, message: { ...message, ack } } : reject('bad-shape', `a ${message.op} message carries no to`);
  const badTo = checkName(to, 'to');
  return badTo ?? { ok: true, message: { ...message, ack, to: to as string } };
}

/** A message from checked parts: its list only for an op that names one; no `traceparent` field when there is none. */
export function messageOf(
  cache: string,
  origin: string,
  sentAt: number,
  op: InvalidationMessage['op'],
  keys: readonly string[] | undefined,
  traceparent: string | undefined,
): InvalidationMessage {
  // Literals rather than spreads: this runs on every received message.
  const v = PROTOCOL_VERSION;
  if (op === 'del') {
    const list = keys ?? [];
    return traceparent === undefined ? { v, cache, op, keys: list, origin, sentAt } : { v, cache, op, keys: list, origin, sentAt, traceparent };
  }
  // Its `ack` and `to` are added by the caller (checkAck, the writer); 0 and '' until then.
  if (op === 'ack') return traceparent === undefined ? { v, cache, op, ack: 0, to: '', origin, sentAt } : { v, cache, op, ack: 0, to: '', origin, sentAt, traceparent };
  if (op === 'clear' || op === 'beat') return traceparent === undefined ? { v, cache, op, origin, sentAt } : { v, cache, op, origin, sentAt, traceparent };
  const list = keys ?? [];
  const tail = traceparent === undefined ? { origin, sentAt } : { origin, sentAt, traceparent };
  if (op === 'expire') return { v, cache, op, keys: list, ...tail };
  return op === 'prefix' ? { v, cache, op, prefixes: list, ...tail } : { v, cache, op, tags: list, ...tail };
}

/**
 * Decodes and checks one message. Never throws: anything wrong is a typed
 * rejection. Without a `secret`, a `sig` is accepted and ignored, so signing can
 * be rolled out publishers first, then verifying receivers.
 */
export function decodeMessage(raw: string | Uint8Array, options: DecodeOptions = {}): DecodeResult {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const parsed = parseWireObject(raw, limits);
  if (!parsed.ok) return parsed;
  const object = parsed.object;
  const checked = parsed.canonical
    ? // The reader always sets these four; the optional fields are read as own properties, as `validate` does.
      validateFields(object['cache'], object['origin'], object['sentAt'], object['op'], own(object, 'keys'), own(object, 'traceparent'), own(object, 'sig'), limits, undefined)
    : validate(object, limits);
  if (!checked.ok) return checked;
  if (options.secret !== undefined) {
    const failure = verifySignature(checked.message, checked.sig, options.secret);
    if (failure !== undefined) return reject(failure.reason, failure.detail);
  }
  return { ok: true, message: checked.message };
}
