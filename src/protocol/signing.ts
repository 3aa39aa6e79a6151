/*
 * Signing (shared secret), defined so another implementation can interoperate:
 *
 *   sig = lowercase hex of HMAC-SHA256(key = secret bytes, data = UTF-8 of C)
 *   C   = the JSON array [v, cache, op, list, origin, sentAt, traceparent]
 *         in exactly that order, where list is the op's keys (del, expire),
 *         tags (tag, expire-tag) or prefixes (prefix), null for the others, and
 *         traceparent = null when absent, serialized as ECMAScript JSON.stringify
 *         does: no whitespace; strings escape only `"`, `\`, \b \f \n \r \t,
 *         other U+0000–U+001F and lone surrogates as lowercase \u00xx / \udxxx,
 *         everything else literal; numbers as Number::toString (integers below
 *         1e21 are plain digits).
 *   e.g. C = [1,"config","del",["a","b"],"inst_x",1700000000000,null]
 *   A message with `ack` (a request for confirmation, or a confirmation)
 *   appends it to C, and a confirmation then its `to`:
 *   e.g. C = [1,"config","ack",null,"inst_y",1700000000001,null,7,"inst_x"]
 *
 * The `sig` field itself is not covered. HMAC proves a message came from a
 * holder of the secret; it does not stop a replay of a genuine message, which is
 * harmless here (an extra invalidation costs a reload, never a stale value).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** A secret shared by every instance; a string is used as its UTF-8 bytes. */
export type Secret = string | Uint8Array;

/** The fields a signature covers (a message of any op). */
export interface SignedFields {
  readonly v: number;
  readonly cache: string;
  readonly op: string;
  readonly keys?: readonly string[];
  readonly tags?: readonly string[];
  readonly prefixes?: readonly string[];
  readonly origin: string;
  readonly sentAt: number;
  readonly traceparent?: string;
  readonly ack?: number;
  readonly to?: string;
}

const SIG_PATTERN = /^[0-9a-f]{64}$/;

export function signatureOf(message: SignedFields, secret: Secret): string {
  const fields: unknown[] = [
    message.v,
    message.cache,
    message.op,
    listOf(message),
    message.origin,
    message.sentAt,
    message.traceparent ?? null,
  ];
  // Appended only when present, so a message without them signs as it always did.
  if (message.ack !== undefined) fields.push(message.ack);
  if (message.to !== undefined) fields.push(message.to);
  const canonical = JSON.stringify(fields);
  return createHmac('sha256', secret).update(canonical, 'utf8').digest('hex');
}

/** The list an op names (only its own field is ever set on a checked message). */
function listOf(message: SignedFields): readonly string[] | null {
  if (message.op === 'del' || message.op === 'expire') return message.keys ?? null;
  if (message.op === 'tag' || message.op === 'expire-tag') return message.tags ?? null;
  return message.op === 'prefix' ? (message.prefixes ?? null) : null;
}

/** Why a signature check failed (the decoder's reject reasons), or undefined when it holds. */
export function verifySignature(message: SignedFields, sig: unknown, secret: Secret): { reason: 'unsigned' | 'bad-signature'; detail: string } | undefined {
  if (sig === undefined) return { reason: 'unsigned', detail: 'message has no sig but a secret is configured' };
  // An empty secret is a configuration mistake; fail closed instead of trusting a guessable key.
  if (secret.length === 0) return { reason: 'bad-signature', detail: 'the receiver secret is empty' };
  // The pattern pins the length to 32 bytes, so timingSafeEqual cannot throw.
  if (typeof sig !== 'string' || !SIG_PATTERN.test(sig)) return { reason: 'bad-signature', detail: 'sig is not 64 lowercase hex characters' };
  const expected = Buffer.from(signatureOf(message, secret), 'hex');
  if (!timingSafeEqual(Buffer.from(sig, 'hex'), expected)) return { reason: 'bad-signature', detail: 'sig does not match the message' };
  return undefined;
}
