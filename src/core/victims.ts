/**
 * Which slots make room for a store, in the order of the eviction policy. A
 * read-only simulation of what `evolve` will do with the `evicted` events it
 * leads to: with SIEVE, the hand's walk and the marks it clears are replayed
 * by `EntryTable.evict`, so the fold lands on the same victims.
 */
import type { EntryTable } from './entry-table.ts';
import type { EvictionReason } from './events.ts';

const NIL = -1;

export interface Victim {
  readonly slot: number;
  readonly reason: EvictionReason;
}

/**
 * Victims until a slot is free (`needSlot`: a new key in a full table) and
 * `needSize` of size is freed, never `keep` (the slot being written). An
 * invalidated slot frees a slot but no size: it goes first when a slot is
 * needed, and is passed over otherwise.
 */
export function victimsFor<V>(entries: EntryTable<V>, needSlot: boolean, needSize: number, keep: number | undefined): Victim[] {
  const chosen: Victim[] = [];
  const head = entries.leastRecentSlot() ?? NIL;
  if (needSlot && head !== NIL && !entries.hasValue(head)) {
    chosen.push({ slot: head, reason: 'tombstone' });
    needSlot = false;
  }
  const order = entries.sieve ? sieveOrder(entries, keep) : lruOrder(entries, keep);
  while (needSlot || needSize > 0) {
    const next = order.next();
    if (next.done === true) break;
    chosen.push({ slot: next.value, reason: needSlot ? 'capacity' : 'size' });
    needSlot = false;
    needSize -= entries.sizeAt(next.value);
  }
  return chosen;
}

/** Live slots from least to most recently used. */
function* lruOrder<V>(entries: EntryTable<V>, keep: number | undefined): Generator<number> {
  for (let slot = entries.leastRecentSlot() ?? NIL; slot !== NIL; slot = entries.nextSlot(slot)) {
    if (slot !== keep && entries.hasValue(slot)) yield slot;
  }
}

/**
 * SIEVE's hand, from where it stands toward the newest slot and round again:
 * a visited slot is spared once (its mark cleared, here only in `cleared`),
 * an unvisited one is the next victim. Two rounds clear every mark, so a
 * third finds nothing new: the walk ends there.
 */
function* sieveOrder<V>(entries: EntryTable<V>, keep: number | undefined): Generator<number> {
  const head = entries.leastRecentSlot() ?? NIL;
  if (head === NIL) return;
  const cleared = new Set<number>();
  const taken = new Set<number>();
  let slot = entries.handSlot() === NIL ? head : entries.handSlot();
  let idle = 0;
  while (idle <= 2 * entries.size) {
    idle++;
    if (slot !== keep && entries.hasValue(slot) && !taken.has(slot)) {
      if (entries.isVisited(slot) && !cleared.has(slot)) {
        cleared.add(slot);
      } else {
        taken.add(slot);
        idle = 0;
        yield slot;
      }
    } else if (slot === keep) {
      cleared.add(slot);
    }
    const next = entries.nextSlot(slot);
    slot = next === NIL ? head : next;
  }
}
