/**
 * What the entry table keeps per slot for refresh-ahead and per-entry stale
 * windows, in parallel arrays allocated on the first entry that has one, so a
 * cache without these features pays nothing for them.
 */

/** The optional times of one entry, as the `stored` event carries them. */
export interface EntryTimes {
  readonly refreshAt?: number;
  readonly staleIfError?: number;
  readonly staleWhileRevalidate?: number;
}

export class SlotTimes {
  /** When a hit starts a background reload (Infinity: never, or one already started). */
  refresh: Float64Array;
  /** Per-entry windows; NaN: the cache's. */
  private staleIfError: Float64Array;
  private swr: Float64Array;

  constructor(capacity: number) {
    this.refresh = new Float64Array(capacity).fill(Infinity);
    this.staleIfError = new Float64Array(capacity).fill(NaN);
    this.swr = new Float64Array(capacity).fill(NaN);
  }

  set(slot: number, times: EntryTimes | undefined): void {
    this.refresh[slot] = times?.refreshAt ?? Infinity;
    this.staleIfError[slot] = times?.staleIfError ?? NaN;
    this.swr[slot] = times?.staleWhileRevalidate ?? NaN;
  }

  /** The entry's own windows, where it has them. */
  windows(slot: number): { staleIfError: number | undefined; staleWhileRevalidate: number | undefined } {
    const staleIfError = this.staleIfError[slot] as number;
    const swr = this.swr[slot] as number;
    return { staleIfError: Number.isNaN(staleIfError) ? undefined : staleIfError, staleWhileRevalidate: Number.isNaN(swr) ? undefined : swr };
  }

  /** The times a snapshot shows (only those the entry has). */
  shown(slot: number): EntryTimes {
    const { staleIfError, staleWhileRevalidate } = this.windows(slot);
    const refreshAt = this.refresh[slot] as number;
    return {
      ...(refreshAt === Infinity ? {} : { refreshAt }),
      ...(staleIfError === undefined ? {} : { staleIfError }),
      ...(staleWhileRevalidate === undefined ? {} : { staleWhileRevalidate }),
    };
  }

  grow(capacity: number): void {
    this.refresh = grown(this.refresh, capacity, Infinity);
    this.staleIfError = grown(this.staleIfError, capacity, NaN);
    this.swr = grown(this.swr, capacity, NaN);
  }
}

function grown(array: Float64Array, capacity: number, fill: number): Float64Array {
  const next = new Float64Array(capacity).fill(fill);
  next.set(array);
  return next;
}
