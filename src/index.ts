/** The public surface of coherent-cache. */
export { Cache, createCache } from './cache.ts';
export type { CacheStats, EntryOptions } from './cache.ts';
export type { CacheOptions } from './options.ts';
export { CacheClosedError, CacheOptionError, LoadTimeoutError } from './errors.ts';
export type * from './events.ts';
export type { Loader, LoadContext, SyncLoader } from './loads.ts';
export type { Listener, Unsubscribe } from './listeners.ts';
export type { RecordedEvent } from './recorder.ts';
export { evolve, initialState, replay, snapshotOf } from './state.ts';
export type { CacheSnapshot, CacheState, EntrySnapshot, LoadSnapshot } from './state.ts';
export { replayStats } from './stats.ts';
export type { CacheCounters } from './stats.ts';
export type { Transport, TransportStatus, TransportStatusChange, TransportStatusReason, TransportSubscription, PayloadListener, StatusListener } from './transports/transport.ts';
export { MemoryBus, MemoryTransport } from './transports/memory.ts';
export { LEGACY_CHANNEL } from './protocol-legacy.ts';
export { PROTOCOL_VERSION, DEFAULT_LIMITS } from './protocol.ts';
export type { InvalidationMessage, ProtocolLimits, Secret } from './protocol.ts';
