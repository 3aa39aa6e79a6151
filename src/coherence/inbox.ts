/**
 * Turns a payload from the channel into what `decide` reads: every payload is
 * decoded as hostile input (v1, or the original module's legacy format on the
 * legacy channel), and the result is a decoded message or the reason it was
 * refused. Whether it applies (cache, origin) is `decide`'s call.
 */
import type { DecodedMessage, UndecodableMessage } from '../core/commands.ts';
import type { RemoteSource } from '../core/events.ts';
import { decodeLegacy } from '../protocol/legacy.ts';
import { decodeMessage, itemsOf, type ProtocolLimits, type Secret } from '../protocol/message.ts';

export interface InboxSettings {
  readonly cacheName: string;
  readonly limits: ProtocolLimits;
  readonly secret: Secret | undefined;
}

export function readPayload(payload: string, legacy: boolean, settings: InboxSettings): DecodedMessage | UndecodableMessage {
  if (legacy) {
    const decoded = decodeLegacy(payload, { cacheName: settings.cacheName, limits: settings.limits });
    if (!decoded.ok) return decoded;
    const message = decoded.message;
    return { ok: true, cache: message.cache, op: message.op, legacy: true, keys: message.op === 'del' ? message.keys : [], remote: { instance: message.origin } };
  }
  const decoded = decodeMessage(payload, { limits: settings.limits, secret: settings.secret });
  if (!decoded.ok) return decoded;
  const message = decoded.message;
  const remote: RemoteSource =
    message.traceparent === undefined
      ? { instance: message.origin, sentAt: message.sentAt }
      : { instance: message.origin, sentAt: message.sentAt, traceparent: message.traceparent };
  const keys = itemsOf(message) ?? NO_KEYS;
  // Only a request for confirmation or a confirmation carries `ack`: one field check for the others.
  if (message.op === 'beat' || message.ack === undefined) return { ok: true, cache: message.cache, op: message.op, legacy: false, keys, remote };
  if (message.op === 'ack') return { ok: true, cache: message.cache, op: 'ack', legacy: false, keys, remote, ack: message.ack, to: message.to };
  return { ok: true, cache: message.cache, op: message.op, legacy: false, keys, remote, ack: message.ack };
}

const NO_KEYS: readonly string[] = [];
