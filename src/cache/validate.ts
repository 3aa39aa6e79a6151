/**
 * Checks shared by every option: each throws a CacheOptionError that names
 * the option and describes, without echoing a long value, what was passed.
 */
import { CacheOptionError } from './errors.ts';

// Timers clamp anything longer than a signed 32-bit ms count to 1 ms.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A ttl in ms: positive and finite. */
export function positiveMs(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new CacheOptionError(option, `must be a positive, finite number of ms, got ${describe(value)}`);
  }
  return value;
}

export function nonNegativeMs(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new CacheOptionError(option, `must be a finite number of ms ≥ 0, got ${describe(value)}`);
  }
  return value;
}

/** A duration a timer will wait: a positive whole number of ms that setTimeout honours. */
export function timerMs(option: string, value: unknown): number {
  return integerIn(option, value, 1, MAX_TIMER_MS);
}

export function integerIn(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new CacheOptionError(option, `must be a whole number from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

/** A short, value-free description of what was passed: never echoes a long string back. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 40 ? `a ${value.length}-character string` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}
