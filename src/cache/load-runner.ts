/**
 * Runs the load effects `decide` asks for: calls loaders, answers their
 * callers, arms and clears timeouts, aborts. No policy lives here: whether a
 * read joins or starts a load, what a settled load stores and what its
 * callers get are decisions; this only turns a loader's outcome into a
 * `load.settled` command and carries decided results back to the callers.
 */
import type { Command } from '../core/commands.ts';
import type { EffectOf, LoadResult } from '../core/effects.ts';
import type { Reply } from './cache-types.ts';
import { errorType, LoadTimeoutError } from './errors.ts';
import { loaderDecisions } from './load-options.ts';
import type { TraceHooks } from './tracing.ts';

/** What a loader receives besides the key. */
export interface LoadContext {
  /** Aborted when the load times out (its result may still be stored if nothing overtook it). */
  readonly signal: AbortSignal;
  /** The ttl its value will be stored with, in ms: set it to decide (a token's own lifetime, say). */
  ttl: number;
  /** How long past that ttl its value may be served when a later load fails, in ms: set it to decide. */
  staleIfError: number;
  /**
   * The loaded value's tags: the read's `{ tags }` to begin with; set or push
   * to tag what was loaded. If one of them is invalidated while the load
   * runs, its value is not stored (its callers still get it).
   */
  tags: string[];
}

/** What a loader's context starts with. */
export interface LoadDefaults {
  readonly ttl: number;
  readonly staleIfError: number;
  readonly tags?: readonly string[] | undefined;
}

export type Loader<V> = (key: string, context: LoadContext) => V | PromiseLike<V>;
export type SyncLoader<V> = (key: string) => V;

/** The parts of the cache the runner needs. */
export interface LoadRunnerHost<V> {
  readonly cacheName: string;
  readonly trace: TraceHooks;
  /** Reads the clock for a command. */
  now(): number;
  dispatch(command: Command<V>): void;
  /** The cache's window, which a loader's context starts with. */
  readonly staleIfError: number;
}

interface Flight<V> {
  readonly key: string;
  /** The callers' promise (async loads), made when the first caller asks for it. */
  settle: PromiseWithResolvers<V> | undefined;
  /** The decided result of a sync load, read back by `runSync`. */
  result: LoadResult<V> | undefined;
  abort: AbortController | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class LoadRunner<V> {
  private readonly flights = new Map<number, Flight<V>>();

  constructor(private readonly host: LoadRunnerHost<V>) {}

  /**
   * Runs a `start-load` effect with the read's loader and the load's ttl: a
   * sync load's decided value, an async load's callers' promise, nothing for a
   * background load (the read was answered already).
   */
  run(effect: EffectOf<'start-load', V>, loader: Loader<V> | SyncLoader<V> | undefined, ttl: number, tags: readonly string[] | undefined): Reply<V> {
    if (effect.sync) return { kind: 'value', value: this.runSync(effect.key, effect.loadId, loader as SyncLoader<V>, tags) };
    const promise = this.start(effect.key, effect.loadId, loader as Loader<V>, { ttl, staleIfError: this.host.staleIfError, tags }, effect.background);
    return promise === undefined ? undefined : { kind: 'promise', promise };
  }

  /**
   * Calls `loader` as async load `loadId`; its outcome (and what it set on its
   * context) becomes a `load.settled` command. Returns the callers' promise,
   * made only when a caller waits: a background load's failure must not be an
   * unhandled rejection.
   */
  start(key: string, loadId: number, loader: Loader<V>, defaults: LoadDefaults, background = false): Promise<V> | undefined {
    const flight = this.flight(loadId, key);
    const promise = background ? undefined : this.callers(flight);
    const abort = (flight.abort = new AbortController());
    const context: LoadContext = { signal: abort.signal, ttl: defaults.ttl, staleIfError: defaults.staleIfError, tags: defaults.tags === undefined ? [] : [...defaults.tags] };
    let pending: V | PromiseLike<V>;
    try {
      pending = this.host.trace.runLoader(loadId, () => loader(key, context));
    } catch (error) {
      this.failed(key, loadId, error);
      return promise;
    }
    Promise.resolve(pending).then(
      (value) => this.decided(key, loadId, value, context, defaults),
      (error: unknown) => this.failed(key, loadId, error),
    );
    return promise;
  }

  /** A loader's value, with what it set on its context when it changed anything (checked: a bad ttl fails the load). */
  private decided(key: string, loadId: number, value: V, context: LoadContext, defaults: LoadDefaults): void {
    if (context.ttl === defaults.ttl && context.staleIfError === defaults.staleIfError) return this.succeeded(key, loadId, value, context.tags);
    let own: { ttl: number; staleIfError: number };
    try {
      own = loaderDecisions(this.host.cacheName, context.ttl, context.staleIfError);
    } catch (error) {
      return this.failed(key, loadId, error);
    }
    const ttl = own.ttl === defaults.ttl ? {} : { ttl: own.ttl };
    const staleIfError = own.staleIfError === defaults.staleIfError ? {} : { staleIfError: own.staleIfError };
    this.host.dispatch({ type: 'load.settled', at: this.host.now(), key, loadId, outcome: 'ok', value, ...ttl, ...staleIfError, ...tagged(context.tags) });
    this.retire(loadId);
  }

  /** Calls a synchronous loader as load `loadId` and returns what was decided for its caller (or throws it). */
  runSync(key: string, loadId: number, loader: SyncLoader<V>, tags?: readonly string[]): V {
    const flight = this.flight(loadId, key);
    let value: V;
    try {
      value = this.host.trace.runLoader(loadId, () => loader(key));
      if (isThenable(value)) {
        // Nobody will await it: keep its rejection from becoming an unhandled one.
        Promise.resolve(value).catch(() => undefined);
        throw new TypeError(`cache "${this.host.cacheName}": getSync loader returned a promise; use get() for async loaders`);
      }
    } catch (error) {
      this.failed(key, loadId, error);
      return this.answerSync(flight);
    }
    this.succeeded(key, loadId, value, tags);
    return this.answerSync(flight);
  }

  /** The promise a caller joining load `loadId` waits on. */
  join(loadId: number, key: string): Promise<V> {
    return this.callers(this.flight(loadId, key));
  }

  /** Answers load `loadId`'s callers with what was decided. */
  settle(loadId: number, result: LoadResult<V>): void {
    const flight = this.flights.get(loadId);
    if (flight === undefined) return;
    clearFlightTimer(flight);
    if (flight.settle === undefined) {
      flight.result = result;
      return;
    }
    if (result.kind === 'value') flight.settle.resolve(result.value);
    else if (result.kind === 'error') flight.settle.reject(result.error);
    else flight.settle.reject(new LoadTimeoutError(this.host.cacheName, flight.key, result.afterMs));
  }

  armTimeout(loadId: number, key: string, afterMs: number): void {
    const flight = this.flight(loadId, key);
    flight.timer = setTimeout(() => {
      flight.timer = undefined;
      this.host.dispatch({ type: 'load.timeout', at: this.host.now(), key, loadId });
    }, afterMs);
    flight.timer.unref();
  }

  abort(loadId: number, afterMs: number): void {
    const flight = this.flights.get(loadId);
    flight?.abort?.abort(new LoadTimeoutError(this.host.cacheName, flight.key, afterMs));
  }

  private succeeded(key: string, loadId: number, value: V, tags: readonly string[] | undefined): void {
    this.host.dispatch({ type: 'load.settled', at: this.host.now(), key, loadId, outcome: 'ok', value, ...tagged(tags) });
    this.retire(loadId);
  }

  private failed(key: string, loadId: number, error: unknown): void {
    this.host.dispatch({ type: 'load.settled', at: this.host.now(), key, loadId, outcome: 'error', error, errorName: errorType(error) });
    this.retire(loadId);
  }

  private answerSync(flight: Flight<V>): V {
    const result = flight.result;
    if (result === undefined) throw new Error(`cache "${this.host.cacheName}": a sync load settled without an answer`);
    if (result.kind === 'value') return result.value;
    if (result.kind === 'error') throw result.error;
    throw new LoadTimeoutError(this.host.cacheName, flight.key, result.afterMs);
  }

  private flight(loadId: number, key: string): Flight<V> {
    let flight = this.flights.get(loadId);
    if (flight === undefined) {
      flight = { key, settle: undefined, result: undefined, abort: undefined, timer: undefined };
      this.flights.set(loadId, flight);
    }
    return flight;
  }

  private callers(flight: Flight<V>): Promise<V> {
    flight.settle ??= Promise.withResolvers<V>();
    return flight.settle.promise;
  }

  private retire(loadId: number): void {
    const flight = this.flights.get(loadId);
    if (flight === undefined) return;
    clearFlightTimer(flight);
    this.flights.delete(loadId);
  }
}

function clearFlightTimer<V>(flight: Flight<V>): void {
  if (flight.timer === undefined) return;
  clearTimeout(flight.timer);
  flight.timer = undefined;
}

/** `{ tags }` when there are any (a copy: the loader may still hold its context's array). */
function tagged(tags: readonly string[] | undefined): { tags?: readonly string[] } {
  return tags === undefined || tags.length === 0 ? {} : { tags: [...tags] };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
