/**
 * Delivers events to user listeners, in the order `evolve` applied them. A
 * listener that emits (by calling back into the cache) has its events queued
 * behind the current one, so every listener sees one consistent order; a
 * listener that throws is reported and skipped, never breaking the cache or
 * the listeners after it.
 */
import type { CacheEvent, CacheEventOf, CacheEventType } from '../core/events.ts';

export type Listener<E> = (event: E) => void;
export type Unsubscribe = () => void;

export class ListenerRegistry<V> {
  private readonly all = new Set<Listener<CacheEvent<V>>>();
  private readonly byType = new Map<CacheEventType, Set<Listener<CacheEvent<V>>>>();
  private readonly queue: CacheEvent<V>[] = [];
  private delivering = false;
  /** True when someone listens to hits: only then does the hit path build hit events. */
  observesHits = false;
  /** Listener calls that threw. */
  errors = 0;

  constructor(private readonly onError: (error: unknown, eventType: string) => void) {}

  subscribe(listener: Listener<CacheEvent<V>>): Unsubscribe {
    this.all.add(listener);
    this.refresh();
    return () => {
      this.all.delete(listener);
      this.refresh();
    };
  }

  on<T extends CacheEventType>(type: T, listener: Listener<CacheEventOf<T, V>>): Unsubscribe {
    let set = this.byType.get(type);
    if (set === undefined) {
      set = new Set();
      this.byType.set(type, set);
    }
    // Sound: deliver() only hands a listener events of the type it was registered for.
    const widened = listener as Listener<CacheEvent<V>>;
    set.add(widened);
    this.refresh();
    return () => {
      set.delete(widened);
      this.refresh();
    };
  }

  get isEmpty(): boolean {
    return this.all.size === 0 && this.byType.size === 0;
  }

  deliver(event: CacheEvent<V>): void {
    this.queue.push(event);
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
        this.callEach(this.byType.get(next.type), next);
        this.callEach(this.all, next);
      }
    } finally {
      this.delivering = false;
    }
  }

  private callEach(listeners: Set<Listener<CacheEvent<V>>> | undefined, event: CacheEvent<V>): void {
    if (listeners === undefined) return;
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        this.errors++;
        try {
          this.onError(error, event.type);
        } catch {
          // The error reporter itself failed: the count above still records it.
        }
      }
    }
  }

  private refresh(): void {
    for (const [type, set] of this.byType) if (set.size === 0) this.byType.delete(type);
    this.observesHits = this.all.size > 0 || this.byType.has('hit');
  }
}
