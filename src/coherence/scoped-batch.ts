/**
 * The part of a tick's batch that is not plain keys: soft invalidations
 * (`expire`, `expireTag`), tags and namespaces. Each kind goes out as its own
 * message (one `invalidateTag` is one message). The retry queue holds keys
 * and a clear only, so when such a send fails, expired keys wait as plain
 * keys (dropped rather than made stale: stronger, never weaker) and tags or
 * namespaces as a clear.
 */
import type { EffectOf } from '../core/effects.ts';
import { ProtocolEncodeError, type ItemOp, type ProtocolLimits } from '../protocol/message.ts';
import type { MessageWriter } from '../protocol/writer.ts';

export interface ScopedBatch {
  readonly expire: Set<string>;
  readonly tags: Set<string>;
  readonly expireTags: Set<string>;
  readonly prefixes: Set<string>;
}

/** Adds a publish that is not a plain key nor a clear. */
export function addScoped(scoped: ScopedBatch | undefined, effect: EffectOf<'publish'>): ScopedBatch {
  const batch = scoped ?? { expire: new Set<string>(), tags: new Set<string>(), expireTags: new Set<string>(), prefixes: new Set<string>() };
  if (effect.scope === 'key') batch.expire.add(effect.key);
  else if (effect.scope === 'tag') (effect.soft === true ? batch.expireTags : batch.tags).add(effect.tag);
  else if (effect.scope === 'prefix') batch.prefixes.add(effect.prefix);
  return batch;
}

/** Whether the retry queue can only hold it as a clear (it names entries by tag or namespace, not by key). */
export function needsClear(scoped: ScopedBatch): boolean {
  return scoped.tags.size > 0 || scoped.expireTags.size > 0 || scoped.prefixes.size > 0;
}

/**
 * One message per kind (split to respect the limits), in the order a receiver
 * best applies them: namespaces and tags, then keys. With `ack`, the last one
 * asks for confirmation of that request (confirming it confirms them all).
 */
export function encodeScoped(scoped: ScopedBatch, writer: MessageWriter, limits: ProtocolLimits, sentAt: number, traceparent: string | undefined, ack?: number): string[] {
  const payloads: string[] = [];
  const chunks: [Exclude<ItemOp, 'del'>, string[]][] = [];
  const kinds: [Exclude<ItemOp, 'del'>, Set<string>][] = [
    ['prefix', scoped.prefixes],
    ['tag', scoped.tags],
    ['expire-tag', scoped.expireTags],
    ['expire', scoped.expire],
  ];
  for (const [op, items] of kinds) {
    const list = [...items];
    for (let i = 0; i < list.length; i += limits.maxKeysPerMessage) chunks.push([op, list.slice(i, i + limits.maxKeysPerMessage)]);
  }
  chunks.forEach(([op, items], i) => payloads.push(...fitting(op, items, writer, sentAt, traceparent, i === chunks.length - 1 ? ack : undefined)));
  return payloads;
}

/** Encodes `items` as one message, halving them while it is too large (`ack` goes on the last). */
function fitting(op: Exclude<ItemOp, 'del'>, items: readonly string[], writer: MessageWriter, sentAt: number, traceparent: string | undefined, ack: number | undefined): string[] {
  try {
    return [writer.items(op, items, sentAt, traceparent, ack)];
  } catch (error) {
    if (!(error instanceof ProtocolEncodeError) || error.reason !== 'too-large' || items.length === 1) throw error;
    const half = Math.ceil(items.length / 2);
    return [...fitting(op, items.slice(0, half), writer, sentAt, traceparent, undefined), ...fitting(op, items.slice(half), writer, sentAt, traceparent, ack)];
  }
}
