/**
 * Tags in the fold: which keys carry each tag (so `invalidateTag` finds them
 * without a scan) and, per tag, the last load an invalidation of it fenced.
 * A load's tags are only known when it settles (the loader may set
 * `ctx.tags`), so a tag cannot fence a load by its key: a load whose id is at
 * most the tag's fence began before the tag was invalidated, and its value
 * must not be stored if it carries the tag. Only `evolve` writes it; a store
 * without tags and a hit never touch it.
 */
/** Fences kept before the first sweep. */
const MIN_SWEEP = 256;

export class TagIndex {
  /** Tag → keys whose value carries it. */
  private readonly keysByTag = new Map<string, Set<string>>();
  /** Key → the tags its value carries (only tagged keys). */
  private readonly tagsByKey = new Map<string, readonly string[]>();
  /** Tag → the highest load id that began before its last invalidation. Dropped once no load that old is in flight. */
  private readonly fenceOf = new Map<string, number>();
  private fencedThroughAny = 0;
  /** How many fences trigger the next sweep (doubling with what survives, so sweeps stay amortized O(1)). */
  private sweepAt = MIN_SWEEP;

  /** Tagged keys. */
  get size(): number {
    return this.tagsByKey.size;
  }

  /** Records the tags of `key`'s new value (replacing its old ones). */
  tag(key: string, tags: readonly string[] | undefined): void {
    if (this.tagsByKey.size > 0) this.untag(key);
    if (tags === undefined || tags.length === 0) return;
    this.tagsByKey.set(key, tags);
    for (const tag of tags) {
      const keys = this.keysByTag.get(tag);
      if (keys === undefined) this.keysByTag.set(tag, new Set([key]));
      else keys.add(key);
    }
  }

  /** Forgets `key`'s tags (its value is gone). */
  untag(key: string): void {
    const tags = this.tagsByKey.get(key);
    if (tags === undefined) return;
    this.tagsByKey.delete(key);
    for (const tag of tags) {
      const keys = this.keysByTag.get(tag);
      if (keys === undefined) continue;
      keys.delete(key);
      if (keys.size === 0) this.keysByTag.delete(tag);
    }
  }

  /** The keys whose value carries `tag`, as a copy (the caller may untag them while it walks). */
  keysOf(tag: string): string[] {
    const keys = this.keysByTag.get(tag);
    return keys === undefined ? [] : [...keys];
  }

  /** The tags of `key`'s value. */
  tagsOf(key: string): readonly string[] | undefined {
    return this.tagsByKey.get(key);
  }

  /**
   * Loads up to `throughLoadId` began before `tag` was invalidated.
   * `oldestInFlight` gives the oldest load id still running (Infinity: none):
   * with loads always in flight the fences would never all be dropped, so
   * past `sweepAt` those no running load is old enough for are swept.
   */
  fence(tag: string, throughLoadId: number, oldestInFlight: () => number): void {
    this.fenceOf.set(tag, throughLoadId);
    if (throughLoadId > this.fencedThroughAny) this.fencedThroughAny = throughLoadId;
    if (this.fenceOf.size < this.sweepAt) return;
    const oldest = oldestInFlight();
    for (const [fenced, through] of this.fenceOf) if (through < oldest) this.fenceOf.delete(fenced);
    this.sweepAt = Math.max(MIN_SWEEP, 2 * this.fenceOf.size);
  }

  /** Whether load `loadId`, settling with `tags`, began before one of them was invalidated. */
  fences(loadId: number, tags: readonly string[] | undefined): boolean {
    if (tags === undefined || loadId > this.fencedThroughAny) return false;
    for (const tag of tags) if ((this.fenceOf.get(tag) ?? 0) >= loadId) return true;
    return false;
  }

  /** The highest load id any tag fenced: a read never joins a load at or below it (its tags are not known yet). */
  get fencedThrough(): number {
    return this.fencedThroughAny;
  }

  /** No load is in flight: no fence can matter any more (later loads have higher ids). */
  dropFences(): void {
    this.fenceOf.clear();
    this.sweepAt = MIN_SWEEP;
  }

  /** Every value is gone. */
  clear(): void {
    this.keysByTag.clear();
    this.tagsByKey.clear();
  }

  /** Tag → sorted keys, and the fences, sorted by tag (for snapshots). */
  render(): { tags: [string, string[]][]; fences: [string, number][] } {
    const tags = [...this.keysByTag].map(([tag, keys]): [string, string[]] => [tag, [...keys].sort()]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const fences = [...this.fenceOf].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    return { tags, fences };
  }
}
