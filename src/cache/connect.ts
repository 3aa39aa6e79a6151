/** Connects a cache to its peers when its options name a transport (none: a local cache). */
import { Coherence, type CoherenceHost } from '../coherence/coherence.ts';
import type { ResolvedOptions } from './options.ts';

export function connectCoherence<V>(options: ResolvedOptions, host: CoherenceHost<V>): Coherence<V> | undefined {
  if (options.transport === undefined) return undefined;
  return new Coherence<V>(host, {
    transport: options.transport,
    channel: options.channelPrefix + options.name,
    legacyChannel: options.legacyChannel,
    secret: options.secret,
    limits: options.messageLimits,
    beatInterval: options.beatInterval,
    invalidateTimeout: options.invalidateTimeout,
    closeTimeout: options.closeTimeout,
  });
}
