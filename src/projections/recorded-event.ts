import type { CacheEvent, StoredEvent } from '../core/events.ts';

/** A recorded event: a `stored` event keeps everything but its value. */
export type RecordedEvent = Exclude<CacheEvent, StoredEvent> | Omit<StoredEvent, 'value'>;
