/**
 * The entry table: keys, values, expiry and recency in parallel arrays with an
 * index-linked LRU list, the layout lru-cache uses. One slot costs a Map entry,
 * two array cells, 8 bytes of expiry, 8 of links and 1 of status, with no object
 * per entry, so a million entries stay small and a hit allocates nothing.
 *
 * With SIEVE (`sieve`), a hit sets a visited mark instead of moving its slot,
 * and a hand walks from the oldest slot toward the newest: `evict` moves it to
 * the victim, clearing the marks it passes. With `maxSize`, a size per slot
 * (allocated on the first sized store) and their total.
 *
 * This is a plain data structure with no policy: `decide` chooses victims
 * (victims.ts), `evolve` (evolve.ts) writes, and only `evolve` writes it.
 */

import { SlotTimes, type EntryTimes } from './slot-times.ts';

const NIL = -1;
const INITIAL_SLOTS = 1024;

/**
 * Slot status: a live entry holds its value; an invalidated one keeps its key
 * (for the miss reason) but not its value; a stale one (soft invalidation)
 * keeps its value for stale-if-error but is never fresh, whatever its expiry
 * and the hit path's clock say.
 */
const LIVE = 0;
const INVALIDATED = 1;
const STALE = 2;

export class EntryTable<V> {
  private readonly slotOf = new Map<string, number>();
  private keys: (string | undefined)[] = [];
  private values: (V | undefined)[] = [];
  private expiry = new Float64Array(INITIAL_SLOTS);
  /** Each slot's expiry before the degraded bound lowered it; only while some entry is capped. */
  private uncapped: Float64Array | undefined;
  private next = new Int32Array(INITIAL_SLOTS);
  private prev = new Int32Array(INITIAL_SLOTS);
  private status = new Uint8Array(INITIAL_SLOTS);
  /** SIEVE's visited marks (sieve only). */
  private visited: Uint8Array | undefined;
  /** Sizes of live slots, from the first sized store on. */
  private sizes: Float64Array | undefined;
  private sizeTotal = 0;
  /** Refresh times and per-entry stale windows, from the first entry that has one. */
  private times: SlotTimes | undefined;
  /** SIEVE's hand: the next slot it examines (NIL: the oldest). */
  private hand = NIL;
  private readonly freeSlots: number[] = [];
  /** Least recently used slot. */
  private head = NIL;
  /** Most recently used slot. */
  private tail = NIL;
  private slotsInUse = 0;
  private invalidatedSlots = 0;

  constructor(readonly sieve = false) {
    if (sieve) this.visited = new Uint8Array(INITIAL_SLOTS);
  }

  /** Slots in use, invalidated ones included: what `maxEntries` bounds. */
  get size(): number {
    return this.slotsInUse;
  }

  /** Entries that hold a value (fresh or expired). */
  get liveCount(): number {
    return this.slotsInUse - this.invalidatedSlots;
  }

  slot(key: string): number | undefined {
    return this.slotOf.get(key);
  }

  /** Holds a value that may be fresh (not invalidated, not made stale). */
  isLive(slot: number): boolean {
    return this.status[slot] === LIVE;
  }

  /** Holds a value, fresh or not (live or stale). */
  hasValue(slot: number): boolean {
    return this.status[slot] !== INVALIDATED;
  }

  /** Made stale by a soft invalidation: kept only for stale-if-error. */
  isStale(slot: number): boolean {
    return this.status[slot] === STALE;
  }

  value(slot: number): V {
    return this.values[slot] as V;
  }

  expiresAt(slot: number): number {
    return this.expiry[slot] as number;
  }

  /** The least recently used slot (an invalidated one first), or undefined when empty. */
  leastRecentSlot(): number | undefined {
    return this.head === NIL ? undefined : this.head;
  }

  /** The next slot toward the most recent end, or -1 at the end. */
  nextSlot(slot: number): number {
    return this.next[slot] as number;
  }

  /** Where SIEVE's hand stands (-1: at the oldest slot). */
  handSlot(): number {
    return this.hand;
  }

  isVisited(slot: number): boolean {
    return this.visited?.[slot] === 1;
  }

  /** The slot's measured size (0 when unsized or invalidated). */
  sizeAt(slot: number): number {
    return this.sizes?.[slot] ?? 0;
  }

  /** Whether a sized value was ever stored (sizes are kept from then on). */
  get sized(): boolean {
    return this.sizes !== undefined;
  }

  /** The sum of the live slots' sizes. */
  get totalSize(): number {
    return this.sizeTotal;
  }

  /** When a hit starts a background reload (Infinity: none due). */
  refreshAt(slot: number): number {
    return this.times === undefined ? Infinity : (this.times.refresh[slot] as number);
  }

  /** A background reload started: no further hit starts another for this value. */
  refreshStarted(slot: number): void {
    if (this.times !== undefined) this.times.refresh[slot] = Infinity;
  }

  /** The entry's own stale windows, where it has them (undefined: the cache's). */
  windows(slot: number): { staleIfError: number | undefined; staleWhileRevalidate: number | undefined } {
    return this.times === undefined ? { staleIfError: undefined, staleWhileRevalidate: undefined } : this.times.windows(slot);
  }

  /** A hit's mark: LRU moves the slot to the most recent end; SIEVE only marks it visited. */
  hit(slot: number): void {
    if (this.visited !== undefined) this.visited[slot] = 1;
    else this.touch(slot);
  }

  key(slot: number): string {
    return this.keys[slot] as string;
  }

  /** Marks a slot most recently used. */
  touch(slot: number): void {
    if (slot === this.tail) return;
    this.unlink(slot);
    this.linkAtTail(slot);
  }

  /**
   * Writes a live entry, reusing the key's slot when it has one, and marks it
   * most recently used (SIEVE: a new or revived slot joins the newest end
   * unvisited; overwriting a live one counts as a visit). `uncappedExpiresAt`
   * is its expiry without the degraded bound, which `liftCaps` restores.
   */
  put(key: string, value: V, expiresAt: number, uncappedExpiresAt = expiresAt, size?: number, times?: EntryTimes): void {
    let slot = this.slotOf.get(key);
    if (slot === undefined) {
      slot = this.allocate();
      this.slotOf.set(key, slot);
      this.keys[slot] = key;
      this.slotsInUse++;
      this.linkAtTail(slot);
      if (this.visited !== undefined) this.visited[slot] = 0;
    } else if (this.visited === undefined) {
      if (this.status[slot] === INVALIDATED) this.invalidatedSlots--;
      this.touch(slot);
    } else if (this.status[slot] === INVALIDATED) {
      this.invalidatedSlots--;
      this.moveHandOff(slot);
      this.touch(slot);
      this.visited[slot] = 0;
    } else {
      this.visited[slot] = 1;
    }
    if (size !== undefined) {
      const sizes = (this.sizes ??= new Float64Array(this.expiry.length));
      this.sizeTotal += size - (sizes[slot] as number);
      sizes[slot] = size;
    }
    this.values[slot] = value;
    this.expiry[slot] = expiresAt;
    this.status[slot] = LIVE;
    if (this.times !== undefined || hasTimes(times)) (this.times ??= new SlotTimes(this.expiry.length)).set(slot, times);
    if (this.uncapped !== undefined || uncappedExpiresAt !== expiresAt) (this.uncapped ??= this.expiry.slice())[slot] = uncappedExpiresAt;
  }

  /**
   * Drops a key's value but keeps its slot, so the next read can say why it
   * missed. The slot moves to the least-recent end: invalidated slots always
   * form the head of the list, so they are reclaimed before any live entry is
   * evicted.
   */
  invalidate(key: string): void {
    const slot = this.slotOf.get(key);
    if (slot === undefined) return;
    if (this.status[slot] !== INVALIDATED) {
      this.values[slot] = undefined;
      this.status[slot] = INVALIDATED;
      this.invalidatedSlots++;
      this.dropSize(slot);
    }
    if (slot !== this.head) {
      this.moveHandOff(slot);
      this.unlink(slot);
      this.linkAtHead(slot);
    }
  }

  /**
   * A soft invalidation: the value stops being fresh now but is kept (its
   * expiry moves to `at` at the latest, so stale-if-error counts from there).
   */
  expire(key: string, at: number): void {
    const slot = this.slotOf.get(key);
    if (slot === undefined || this.status[slot] === INVALIDATED) return;
    this.status[slot] = STALE;
    if ((this.expiry[slot] as number) > at) this.expiry[slot] = at;
    const uncapped = this.uncapped;
    if (uncapped !== undefined && (uncapped[slot] as number) > at) uncapped[slot] = at;
  }

  /** The keys that start with `prefix` (a namespace), by a scan: a namespace's invalidateAll is as rare as invalidateAll. */
  keysWithPrefix(prefix: string): string[] {
    const keys: string[] = [];
    for (const key of this.slotOf.keys()) if (key.startsWith(prefix)) keys.push(key);
    return keys;
  }

  invalidateAll(): void {
    for (let slot = this.head; slot !== NIL; slot = this.next[slot] as number) {
      this.values[slot] = undefined;
      this.status[slot] = INVALIDATED;
      this.dropSize(slot);
    }
    this.invalidatedSlots = this.slotsInUse;
  }

  /** Lowers every live entry's expiry to at most `latest` (degraded mode bounds how long entries live). */
  capExpiry(latest: number): void {
    this.uncapped ??= this.expiry.slice();
    for (let slot = this.head; slot !== NIL; slot = this.next[slot] as number) {
      if ((this.expiry[slot] as number) > latest) this.expiry[slot] = latest;
    }
  }

  /** Gives every entry back the expiry it had before the degraded bound lowered it (a repair proved nothing was missed). */
  liftCaps(): void {
    const uncapped = this.uncapped;
    if (uncapped === undefined) return;
    for (let slot = this.head; slot !== NIL; slot = this.next[slot] as number) this.expiry[slot] = uncapped[slot] as number;
    this.uncapped = undefined;
  }

  /**
   * Takes back a key's slot to make room. SIEVE's hand first walks to it from
   * where it stands, clearing the visited marks it passes (the marks `decide`
   * saw spare those slots once), round again if the victim itself was marked,
   * and then stands after it.
   */
  evict(key: string): void {
    const slot = this.slotOf.get(key);
    if (slot === undefined) return;
    const visited = this.visited;
    if (visited !== undefined && this.status[slot] !== INVALIDATED) {
      let at = this.hand === NIL ? this.head : this.hand;
      // Bounded: one round clears every mark, so a second reaches the victim unmarked.
      for (let steps = 2 * this.slotsInUse; !(at === slot && visited[at] === 0) && at !== NIL && steps > 0; steps--) {
        visited[at] = 0;
        at = this.next[at] === NIL ? this.head : (this.next[at] as number);
      }
      this.hand = slot;
    }
    this.remove(key);
  }

  /** Forgets a key and frees its slot. */
  remove(key: string): void {
    const slot = this.slotOf.get(key);
    if (slot === undefined) return;
    this.slotOf.delete(key);
    this.moveHandOff(slot);
    this.dropSize(slot);
    this.unlink(slot);
    if (this.status[slot] === INVALIDATED) this.invalidatedSlots--;
    this.keys[slot] = undefined;
    this.values[slot] = undefined;
    this.status[slot] = LIVE;
    this.freeSlots.push(slot);
    this.slotsInUse--;
  }

  clear(): void {
    this.slotOf.clear();
    this.keys = [];
    this.values = [];
    this.freeSlots.length = 0;
    this.uncapped = undefined;
    this.head = this.tail = NIL;
    this.hand = NIL;
    this.slotsInUse = 0;
    this.invalidatedSlots = 0;
    this.sizes?.fill(0);
    this.sizeTotal = 0;
  }

  /** Walks entries from least to most recently used (SIEVE: oldest first), with the size and mark where they are kept. */
  *walk(): Generator<{ key: string; live: boolean; value: V | undefined; expiresAt: number; stale?: true; size?: number; visited?: boolean } & EntryTimes> {
    for (let slot = this.head; slot !== NIL; slot = this.next[slot] as number) {
      const live = this.status[slot] !== INVALIDATED;
      yield {
        key: this.keys[slot] as string,
        live,
        value: live ? (this.values[slot]) : undefined,
        expiresAt: this.expiry[slot] as number,
        ...(this.status[slot] === STALE ? { stale: true as const } : {}),
        ...(this.sizes === undefined ? {} : { size: this.sizes[slot] as number }),
        ...(this.visited === undefined ? {} : { visited: this.visited[slot] === 1 }),
        ...(this.times === undefined || !live ? {} : this.times.shown(slot)),
      };
    }
  }

  /** A slot leaving its place: SIEVE's hand, standing on it, moves on to the next one. */
  private moveHandOff(slot: number): void {
    if (slot === this.hand) this.hand = this.next[slot] as number;
  }

  private dropSize(slot: number): void {
    const sizes = this.sizes;
    if (sizes === undefined) return;
    this.sizeTotal -= sizes[slot] as number;
    sizes[slot] = 0;
  }

  private allocate(): number {
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    // Slots are handed out densely, so the next fresh one is the count of slots ever used.
    const slot = this.slotsInUse + this.freeSlots.length;
    if (slot >= this.expiry.length) this.grow();
    return slot;
  }

  private grow(): void {
    const capacity = this.expiry.length * 2;
    this.expiry = copyInto(new Float64Array(capacity), this.expiry);
    if (this.uncapped !== undefined) this.uncapped = copyInto(new Float64Array(capacity), this.uncapped);
    this.next = copyInto(new Int32Array(capacity), this.next);
    this.prev = copyInto(new Int32Array(capacity), this.prev);
    this.status = copyInto(new Uint8Array(capacity), this.status);
    if (this.visited !== undefined) this.visited = copyInto(new Uint8Array(capacity), this.visited);
    if (this.sizes !== undefined) this.sizes = copyInto(new Float64Array(capacity), this.sizes);
    this.times?.grow(capacity);
  }

  private linkAtTail(slot: number): void {
    this.prev[slot] = this.tail;
    this.next[slot] = NIL;
    if (this.tail === NIL) this.head = slot;
    else this.next[this.tail] = slot;
    this.tail = slot;
  }

  private linkAtHead(slot: number): void {
    this.next[slot] = this.head;
    this.prev[slot] = NIL;
    if (this.head === NIL) this.tail = slot;
    else this.prev[this.head] = slot;
    this.head = slot;
  }

  private unlink(slot: number): void {
    const before = this.prev[slot] as number;
    const after = this.next[slot] as number;
    if (before === NIL) this.head = after;
    else this.next[before] = after;
    if (after === NIL) this.tail = before;
    else this.prev[after] = before;
  }
}

function copyInto<T extends Float64Array | Int32Array | Uint8Array>(target: T, source: T): T {
  target.set(source);
  return target;
}

function hasTimes(times: EntryTimes | undefined): boolean {
  return times !== undefined && (times.refreshAt !== undefined || times.staleIfError !== undefined || times.staleWhileRevalidate !== undefined);
}
