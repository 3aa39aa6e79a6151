/**
 * Invalidations in every scope, made here or heard from a peer: a key, every
 * key, a tag, a namespace's keys (a prefix), and the soft ones (`expire`,
 * `expireTag`) that keep the value, stale, for stale-if-error. Each is one
 * event the fold applies (dropping or staling entries, fencing loads) and,
 * made here, one publish.
 */
import type { DecodedMessage, InvalidateCommand } from './commands.ts';
import { requestAcks } from './decide-acks.ts';
import type { Decision } from './decision.ts';
import type { Effect } from './effects.ts';
import type { CacheEvent, InvalidatedEvent, InvalidationOrigin, InvalidationReason, RemoteSource } from './events.ts';
import type { CacheState } from './state.ts';

/** Drops (or stales) what the command names here, fences its loads, and tells the peers when there are any (asking them to confirm, with `ackTimeout`). */
export function decideInvalidate<V>(state: CacheState<V>, command: InvalidateCommand): Decision<V> {
  const event = localInvalidation(command);
  if (state.link === 'local') return { events: [event], effects: [] };
  const decision: Decision<V> = { events: [event], effects: [publishOf(command)] };
  if (command.ackTimeout === undefined) return decision;
  return requestAcks(state, decision, command, command.ackTimeout);
}

function localInvalidation(command: InvalidateCommand): InvalidatedEvent {
  const { at } = command;
  const base = { type: 'invalidated', at, origin: 'local', reason: 'explicit' } as const;
  switch (command.scope) {
    case 'key':
      return command.soft === true ? { ...base, scope: 'key', key: command.key, soft: true } : { ...base, scope: 'key', key: command.key };
    case 'tag':
      return command.soft === true ? { ...base, scope: 'tag', tag: command.tag, soft: true } : { ...base, scope: 'tag', tag: command.tag };
    case 'prefix':
      return { ...base, scope: 'prefix', prefix: command.prefix };
    case 'all':
      return { ...base, scope: 'all' };
  }
}

function publishOf<V>(command: InvalidateCommand): Effect<V> {
  switch (command.scope) {
    case 'key':
      return command.soft === true ? { type: 'publish', scope: 'key', key: command.key, soft: true } : { type: 'publish', scope: 'key', key: command.key };
    case 'tag':
      return command.soft === true ? { type: 'publish', scope: 'tag', tag: command.tag, soft: true } : { type: 'publish', scope: 'tag', tag: command.tag };
    case 'prefix':
      return { type: 'publish', scope: 'prefix', prefix: command.prefix };
    case 'all':
      return { type: 'publish', scope: 'all' };
  }
}

/**
 * The events of a peer's message, appended to `events`. `hard`: a soft op
 * drops its values all the same (a repair after a gap: the gap already used
 * the time a stale value could be kept within the bound).
 */
export function remoteInvalidations<V>(
  message: DecodedMessage,
  at: number,
  origin: InvalidationOrigin,
  reason: InvalidationReason,
  remote: RemoteSource | undefined,
  hard: boolean,
  events: CacheEvent<V>[],
): void {
  const base = remote === undefined ? ({ type: 'invalidated', at, origin, reason } as const) : ({ type: 'invalidated', at, origin, reason, remote } as const);
  switch (message.op) {
    case 'clear':
      events.push({ ...base, scope: 'all' });
      return;
    case 'del':
      for (const key of message.keys) events.push({ ...base, scope: 'key', key });
      return;
    case 'expire':
      for (const key of message.keys) events.push(hard ? { ...base, scope: 'key', key } : { ...base, scope: 'key', key, soft: true });
      return;
    case 'tag':
      for (const tag of message.keys) events.push({ ...base, scope: 'tag', tag });
      return;
    case 'expire-tag':
      for (const tag of message.keys) events.push(hard ? { ...base, scope: 'tag', tag } : { ...base, scope: 'tag', tag, soft: true });
      return;
    case 'prefix':
      for (const prefix of message.keys) events.push({ ...base, scope: 'prefix', prefix });
      return;
    case 'beat':
    case 'ack':
      return;
  }
}
