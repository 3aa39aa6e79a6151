/**
 * Verification of hits in production: a sample of the hits is re-loaded with
 * the loader of the read, off the hot path, and the value served is compared
 * with the loader's (structurally, or by the user's `compare`). A difference
 * that no invalidation or store of the key explains, within `degradedTtl` of
 * the reload (an invalidation may still be on its way, as the contract
 * allows), is a `coherence.violation`.
 *
 * The hit path only counts down to the next sample; the countdown is drawn at
 * random around 1 / sampleRate when a sample is taken, so no access pattern
 * hides from it, and no random number is drawn per hit.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Command } from '../core/commands.ts';
import type { CacheEvent } from '../core/events.ts';
import type { LoadDefaults, Loader, SyncLoader } from './load-runner.ts';

export interface VerifyOptions {
  /** Share of hits re-loaded, in (0, 1]: 0.01 re-loads about one hit in a hundred. */
  sampleRate: number;
  /**
   * Whether the value served (`cached`) agrees with the loader's (`loaded`),
   * e.g. by comparing versions. Default: structural equality
   * (node:util isDeepStrictEqual).
   */
  compare?: (cached: unknown, loaded: unknown) => boolean;
  /** Put the key in `coherence.violation` events (default: `[redacted]`: keys can be personal data). */
  allowKeys?: boolean;
}

/** Verifications waiting for their loader or their verdict at once (one per key); samples beyond it are skipped. */
export const MAX_PENDING_VERIFICATIONS = 64;
export const REDACTED_KEY = '[redacted]';

interface Pending {
  readonly key: string;
  readonly hitAt: number;
  /** An invalidation or a store of the key came after the hit. */
  explained: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export interface VerifierHost<V> {
  now(): number;
  dispatch(command: Command<V>): void;
  /** How long a difference waits for an invalidation that explains it. */
  readonly graceMs: number;
  /** What a loader's context starts with (what it sets there is ignored: a verification stores nothing). */
  readonly loadDefaults: LoadDefaults;
}

export class Verifier<V> {
  private readonly pending = new Set<Pending>();
  /** Keys with a verification waiting: a second sample of one adds nothing until the first is judged. */
  private readonly pendingKeys = new Set<string>();
  private readonly compare: (cached: unknown, loaded: unknown) => boolean;
  private readonly meanInterval: number;
  private closed = false;

  constructor(
    private readonly options: VerifyOptions,
    private readonly host: VerifierHost<V>,
  ) {
    this.compare = options.compare ?? isDeepStrictEqual;
    this.meanInterval = 1 / options.sampleRate;
  }

  /** Hits until the next sample: 1 to 2 × the mean − 1, uniformly (so the mean is 1 / sampleRate). */
  nextCountdown(): number {
    return this.meanInterval <= 1 ? 1 : 1 + Math.floor(Math.random() * (2 * this.meanInterval - 1));
  }

  /** Whether any verification waits (the shell then shows it every event). */
  get watching(): boolean {
    return this.pending.size > 0;
  }

  /** Re-loads `key`, served `value` by a hit now, once the current work is done. Returns the countdown to the next sample. */
  sample(key: string, value: V, loader: Loader<V> | SyncLoader<V>, sync: boolean): number {
    if (this.closed || this.pending.size >= MAX_PENDING_VERIFICATIONS || this.pendingKeys.has(key)) return this.nextCountdown();
    const pending: Pending = { key, hitAt: this.host.now(), explained: false, timer: undefined };
    this.pending.add(pending);
    this.pendingKeys.add(key);
    setImmediate(() => {
      if (this.closed) return;
      let loaded: V | PromiseLike<V>;
      try {
        loaded = sync ? (loader as SyncLoader<V>)(key) : (loader as Loader<V>)(key, { signal: NEVER_ABORTED, ...this.host.loadDefaults, tags: [] });
      } catch {
        this.finish(pending, 'error');
        return;
      }
      Promise.resolve(loaded).then(
        (fresh) => this.judge(pending, value, fresh),
        () => this.finish(pending, 'error'),
      );
    }).unref();
    return this.nextCountdown();
  }

  /** Every event while verifications wait: an invalidation or a store of their key explains a difference. */
  observe(event: CacheEvent<V>): void {
    if (event.type === 'invalidated' || event.type === 'cleared') {
      const key = event.type === 'invalidated' && event.scope === 'key' ? event.key : undefined;
      for (const pending of this.pending) if (key === undefined || pending.key === key) pending.explained = true;
    } else if (event.type === 'stored') {
      for (const pending of this.pending) if (pending.key === event.key) pending.explained = true;
    }
  }

  close(): void {
    this.closed = true;
    for (const pending of this.pending) if (pending.timer !== undefined) clearTimeout(pending.timer);
    this.pending.clear();
    this.pendingKeys.clear();
  }

  private judge(pending: Pending, served: V, loaded: V): void {
    if (this.closed) return;
    let same: boolean;
    try {
      same = this.compare(served, loaded);
    } catch {
      this.finish(pending, 'error');
      return;
    }
    if (same) return this.finish(pending, 'match');
    if (pending.explained) return this.finish(pending, 'explained');
    // The invalidation of a write the loader already sees may still be on its way.
    pending.timer = setTimeout(() => this.finish(pending, pending.explained ? 'explained' : 'violation'), this.host.graceMs);
    pending.timer.unref();
  }

  private finish(pending: Pending, outcome: 'match' | 'explained' | 'error' | 'violation'): void {
    if (!this.pending.delete(pending) || this.closed) return;
    this.pendingKeys.delete(pending.key);
    const key = this.options.allowKeys === true ? pending.key : REDACTED_KEY;
    this.host.dispatch({ type: 'verify', at: this.host.now(), outcome, key, hitAt: pending.hitAt });
  }
}

const NEVER_ABORTED = new AbortController().signal;
