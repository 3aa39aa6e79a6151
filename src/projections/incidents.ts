/**
 * The flight recorder's memory of coherence violations: for each, the
 * recorded events before it (what the ring held) and the events that follow,
 * so what led to a stale value can still be read after the ring has moved on.
 */
import type { CoherenceViolationEvent } from '../core/events.ts';
import type { RecordedEvent } from './recorded-event.ts';

/** Incidents kept (the oldest is dropped first). */
export const MAX_INCIDENTS = 8;
/** Events recorded after a violation that its incident keeps. */
export const EVENTS_AFTER = 32;

export interface ViolationIncident {
  readonly violation: CoherenceViolationEvent;
  /** Recorded events before it, oldest first (at most `recentEvents` of them). */
  readonly before: readonly RecordedEvent[];
  /** Recorded events after it, up to 32. */
  readonly after: RecordedEvent[];
}

export class IncidentLog {
  private readonly incidents: ViolationIncident[] = [];
  /** Incidents still collecting their `after` events. */
  private open = 0;

  /** Called for every recorded event (a violation opens an incident with `before`). */
  note(event: RecordedEvent, before: () => RecordedEvent[]): void {
    if (this.open > 0) {
      for (const incident of this.incidents) if (incident.after.length < EVENTS_AFTER) incident.after.push(event);
      this.open = this.incidents.filter((incident) => incident.after.length < EVENTS_AFTER).length;
    }
    if (event.type !== 'coherence.violation') return;
    this.incidents.push({ violation: event, before: before(), after: [] });
    if (this.incidents.length > MAX_INCIDENTS) this.incidents.shift();
    this.open = this.incidents.filter((incident) => incident.after.length < EVENTS_AFTER).length;
  }

  list(): ViolationIncident[] {
    return this.incidents.map((incident) => ({ ...incident, before: [...incident.before], after: [...incident.after] }));
  }
}
