/**
 * The checks invalidated keys, tags and namespace prefixes pass before they
 * reach the core: each is a string a message can carry (a tag or prefix,
 * never empty), and a value has at most `MAX_TAGS` tags. The loader's
 * `ctx.tags` are checked when its load settles: a bad one fails the load
 * (never cached), as a bad `sizeOf` does.
 */
import type { Command } from '../core/commands.ts';
import type { EntryOptions } from './cache-types.ts';
import { CacheKeyError, errorType } from './errors.ts';
import { assertKey } from './guards.ts';

/** Most tags one value may carry (each is indexed, and fences its loads). */
export const MAX_TAGS = 64;

/** `tag`, checked; `maxLength`: the longest a message may carry (messageLimits.maxKeyLength). */
export function checkedTag(cacheName: string, tag: unknown, maxLength: number): string {
  if (typeof tag !== 'string' || tag.length === 0) throw new TypeError(`cache "${cacheName}": a tag is a non-empty string, got ${tag === '' ? 'an empty string' : typeof tag}`);
  if (tag.length > maxLength) throw new CacheKeyError(cacheName, `a ${tag.length}-character tag cannot be sent to other instances: messageLimits.maxKeyLength is ${maxLength}`);
  return tag;
}

/** The tags of `{ tags }` or `ctx.tags`, checked and de-duplicated; undefined when there are none. */
export function checkedTags(cacheName: string, tags: unknown, maxLength: number): readonly string[] | undefined {
  if (tags === undefined) return undefined;
  if (!Array.isArray(tags)) throw new TypeError(`cache "${cacheName}": tags must be an array of strings, got ${typeof tags}`);
  if (tags.length === 0) return undefined;
  const unique = [...new Set(tags as unknown[])];
  if (unique.length > MAX_TAGS) throw new RangeError(`cache "${cacheName}": a value carries at most ${MAX_TAGS} tags, got ${unique.length}`);
  for (const tag of unique) checkedTag(cacheName, tag, maxLength);
  return unique as string[];
}

/** A settled load with its `ctx.tags` checked: a bad one turns the load into an error (the loader's mistake is not cached). */
export function withCheckedTags<V>(command: Command<V>, cacheName: string, maxLength: number): Command<V> {
  if (command.type !== 'load.settled' || command.outcome !== 'ok' || command.tags === undefined) return command;
  try {
    const tags = checkedTags(cacheName, command.tags, maxLength);
    const { at, key, loadId, value } = command;
    const size = command.size === undefined ? {} : { size: command.size };
    return tags === undefined ? { type: 'load.settled', at, key, loadId, outcome: 'ok', value, ...size } : { type: 'load.settled', at, key, loadId, outcome: 'ok', value, ...size, tags };
  } catch (error) {
    const { at, key, loadId } = command;
    return { type: 'load.settled', at, key, loadId, outcome: 'error', error, errorName: errorType(error) };
  }
}

/** The checks of one cache's invalidation and tag arguments (they throw; the caller rejects). */
export class ArgumentChecks {
  constructor(
    private readonly cacheName: string,
    private readonly maxLength: number,
    /** It has peers to tell: a key no message could carry is refused before anything happens. */
    private readonly publishes: boolean,
  ) {}

  key(key: string): string {
    assertKey(key);
    if (this.publishes && key.length > this.maxLength) {
      throw new CacheKeyError(this.cacheName, `a ${key.length}-character key cannot be invalidated on other instances: messageLimits.maxKeyLength is ${this.maxLength}`);
    }
    return key;
  }

  /** A tag, or a namespace's prefix. */
  tag(tag: string): string {
    return checkedTag(this.cacheName, tag, this.maxLength);
  }

  tags(options: EntryOptions | undefined): readonly string[] | undefined {
    return options?.tags === undefined ? undefined : checkedTags(this.cacheName, options.tags, this.maxLength);
  }

  /** `{ tags }` for a command, or nothing. */
  tagged(options: EntryOptions | undefined): { readonly tags?: readonly string[] } {
    const tags = this.tags(options);
    return tags === undefined ? {} : { tags };
  }
}
