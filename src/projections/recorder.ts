/**
 * A bounded ring buffer of the most recent events, for diagnosis. Hits, lease
 * renewals and heartbeats heard from peers are not recorded (they would push out everything worth
 * reading, and hits would cost the hot path; `stats()` and `snapshot()` show
 * them) and stored values are redacted.
 */
import type { CacheEvent } from '../core/events.ts';
import { IncidentLog, type ViolationIncident } from './incidents.ts';
import type { RecordedEvent } from './recorded-event.ts';

export type { RecordedEvent } from './recorded-event.ts';

export class EventRecorder {
  private readonly ring: (RecordedEvent | undefined)[];
  private next = 0;
  private filled = false;
  private readonly incidents = new IncidentLog();

  constructor(readonly capacity: number) {
    this.ring = new Array<RecordedEvent | undefined>(capacity);
  }

  record(event: CacheEvent): void {
    if (event.type === 'hit' || event.type === 'lease.renewed' || event.type === 'peer.heard') return;
    const recorded = redact(event);
    // Before the ring takes it: an incident's `before` ends just ahead of its violation.
    this.incidents.note(recorded, () => this.events());
    if (this.capacity === 0) return;
    this.ring[this.next] = recorded;
    this.next = (this.next + 1) % this.capacity;
    if (this.next === 0) this.filled = true;
  }

  /** The recent coherence violations, each with the events around it. */
  violations(): ViolationIncident[] {
    return this.incidents.list();
  }

  /** Oldest first. */
  events(): RecordedEvent[] {
    const ordered = this.filled ? [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)] : this.ring.slice(0, this.next);
    return ordered.filter((event): event is RecordedEvent => event !== undefined);
  }
}

function redact(event: CacheEvent): RecordedEvent {
  if (event.type !== 'stored') return event;
  // Spelled out rather than rest-destructured: this runs on every store, and the spread is several times slower.
  return { type: event.type, key: event.key, at: event.at, expiresAt: event.expiresAt, source: event.source };
}
