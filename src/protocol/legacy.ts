/**
 * The original module's invalidation format, so a service can move to
 * coherent-cache one process at a time: new processes also publish and listen
 * on the legacy channel until the last old process is gone.
 *
 * Legacy payload: {"slotId":"compat:deepseek","_origin":"inst_…"}, one key per
 * message, `slotId: "*"` meaning "clear everything". It has no cache name, no
 * timestamp, no trace context and no signature: it is unauthenticated, so a
 * cache configured with a secret should not listen on the legacy channel.
 */
import {
  DEFAULT_LIMITS,
  MAX_NAME_LENGTH,
  ProtocolEncodeError,
  parseWireObject,
  quoteSnippet,
} from './message.ts';
import type { DecodeFailure, DecodeResult, InvalidationOp, ProtocolLimits } from './message.ts';

/** What the original format can say: one key, or everything. */
type LegacyOp = Extract<InvalidationOp, { op: 'del' | 'clear' }>;

export const LEGACY_CHANNEL = 'sentri:compat-config:invalidate';

/** The legacy slotId meaning "clear all"; it can therefore never be a real legacy key. */
export const LEGACY_CLEAR_ALL = '*';

/**
 * A decoded legacy invalidation. It is a separate type rather than an
 * `InvalidationMessage` with an optional `sentAt`, so v1 code keeps a required
 * timestamp and code that handles both narrows with `'legacy' in message`
 * (matching events.ts, where `RemoteSource.sentAt` is absent for legacy).
 */
export type LegacyInvalidationMessage = LegacyOp & {
  readonly legacy: true;
  /** The receiving cache's name: the legacy format names no cache. */
  readonly cache: string;
  readonly origin: string;
};

export interface LegacyDecodeOptions {
  /** The cache the legacy channel feeds. */
  readonly cacheName: string;
  /** Defaults to `DEFAULT_LIMITS`. */
  readonly limits?: ProtocolLimits | undefined;
}

const LEGACY_FIELDS: ReadonlySet<string> = new Set(['slotId', '_origin']);

function reject(reason: DecodeFailure['reason'], detail: string): DecodeFailure {
  return { ok: false, reason, detail };
}

/** Decodes a legacy payload. Never throws; same hostile-input rules as `decodeMessage`. */
export function decodeLegacy(
  raw: string | Uint8Array,
  options: LegacyDecodeOptions,
): DecodeResult<LegacyInvalidationMessage> {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const parsed = parseWireObject(raw, limits);
  if (!parsed.ok) return parsed;
  const object = parsed.object;

  // The old module sent exactly these two fields; anything else is not one of its messages.
  for (const field of Object.keys(object)) {
    if (!LEGACY_FIELDS.has(field)) return reject('bad-shape', `unknown field ${quoteSnippet(field)}`);
  }
  const slotId = Object.hasOwn(object, 'slotId') ? object.slotId : undefined;
  const origin = Object.hasOwn(object, '_origin') ? object._origin : undefined;
  if (typeof slotId !== 'string') return reject('bad-shape', 'slotId must be a string');
  if (typeof origin !== 'string' || origin.length === 0 || origin.length > MAX_NAME_LENGTH) {
    return reject('bad-shape', `_origin must be a string of 1 to ${MAX_NAME_LENGTH} characters`);
  }
  if (!(slotId.length <= limits.maxKeyLength)) {
    return reject('bad-key', `slotId is ${slotId.length} characters, limit ${limits.maxKeyLength}`);
  }

  const op: LegacyOp =
    slotId === LEGACY_CLEAR_ALL ? { op: 'clear' } : { op: 'del', keys: Object.freeze([slotId]) };
  const message: LegacyInvalidationMessage = { legacy: true, cache: options.cacheName, ...op, origin };
  return { ok: true, message: Object.freeze(message) };
}

/**
 * Encodes one legacy payload per key (the format carries one slotId); a clear is
 * one `"*"` payload. A key that is literally `"*"` cannot be expressed, so it
 * becomes a clear: over-invalidating is safe, missing an invalidation is not.
 * Throws `ProtocolEncodeError` for what legacy receivers using `limits` would reject.
 */
export function encodeLegacy(
  message: InvalidationOp & { readonly origin: string },
  limits: ProtocolLimits = DEFAULT_LIMITS,
): string[] {
  const { origin } = message;
  if (typeof origin !== 'string' || origin.length === 0 || origin.length > MAX_NAME_LENGTH) {
    throw new ProtocolEncodeError('bad-shape', `origin must be a string of 1 to ${MAX_NAME_LENGTH} characters`);
  }
  const payload = (slotId: string): string => JSON.stringify({ slotId, _origin: origin });
  if (message.op === 'clear') return [payload(LEGACY_CLEAR_ALL)];
  if (message.op !== 'del' || !Array.isArray(message.keys) || message.keys.length === 0) {
    throw new ProtocolEncodeError('bad-shape', 'op must be "del" with a non-empty keys array, or "clear"');
  }
  if (message.keys.includes(LEGACY_CLEAR_ALL)) return [payload(LEGACY_CLEAR_ALL)];

  return message.keys.map((key, i) => {
    if (typeof key !== 'string') throw new ProtocolEncodeError('bad-shape', `key ${i} is not a string`);
    if (key.length > limits.maxKeyLength) {
      throw new ProtocolEncodeError('bad-key', `key ${i} is ${key.length} characters, limit ${limits.maxKeyLength}`);
    }
    const encoded = payload(key);
    if (Buffer.byteLength(encoded, 'utf8') > limits.maxMessageBytes) {
      throw new ProtocolEncodeError('too-large', `payload for key ${i} exceeds ${limits.maxMessageBytes} bytes`);
    }
    return encoded;
  });
}
