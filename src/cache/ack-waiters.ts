/**
 * The callers of acknowledged invalidations, waiting for `decide` to settle
 * their request (every peer confirmed, or the timeout named who did not),
 * and the timers that turn a request's timeout into an `ack.timeout` command.
 */
import type { Command } from '../core/commands.ts';
import type { AckOperation, EffectOf } from '../core/effects.ts';
import { AckTimeoutError } from './errors.ts';

interface Wait {
  readonly settle: PromiseWithResolvers<void>;
  readonly timer: ReturnType<typeof setTimeout>;
  readonly key: string | undefined;
  readonly operation: AckOperation | undefined;
  readonly timeoutMs: number;
}

export interface AckWaitersHost<V> {
  readonly cacheName: string;
  now(): number;
  dispatch(command: Command<V>): void;
}

export class AckWaiters<V> {
  private readonly waits = new Map<number, Wait>();

  constructor(private readonly host: AckWaitersHost<V>) {}

  /** The caller's promise for the request of `effect` (and for `sent`, its message's send), whose timeout fires after `afterMs`. */
  arm(effect: EffectOf<'arm-ack-timeout'>, sent: Promise<void> | undefined): Promise<void> {
    const { requestId, afterMs: timeoutMs, key, operation } = effect;
    const settle = Promise.withResolvers<void>();
    const timer = setTimeout(() => this.host.dispatch({ type: 'ack.timeout', at: this.host.now(), requestId }), timeoutMs);
    // Like every library timer, it keeps no process alive; the caller's await does not need it to.
    timer.unref();
    this.waits.set(requestId, { settle, timer, key, operation, timeoutMs });
    return sent === undefined ? settle.promise : Promise.all([sent, settle.promise]).then(() => undefined);
  }

  /** Answers the caller: resolved when nobody is `missing`, else AckTimeoutError naming them. */
  settle(requestId: number, missing: readonly string[]): void {
    const wait = this.waits.get(requestId);
    if (wait === undefined) return;
    this.waits.delete(requestId);
    clearTimeout(wait.timer);
    if (missing.length === 0) wait.settle.resolve();
    else wait.settle.reject(new AckTimeoutError(this.host.cacheName, wait.key, missing, wait.timeoutMs, wait.operation));
  }

  /** The cache closed: every caller still waiting gets `error`. */
  close(error: Error): void {
    for (const wait of this.waits.values()) {
      clearTimeout(wait.timer);
      wait.settle.reject(error);
    }
    this.waits.clear();
  }
}
