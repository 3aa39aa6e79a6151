/**
 * JSON text of the two values a publisher writes per message, a key and a
 * millisecond timestamp, without calling JSON.stringify or number-to-string
 * conversion on the common input.
 *
 * Why: a publisher is usually idle between messages, and on an idle process
 * those engine builtins are cold: formatting one 13-digit timestamp or one
 * one-key array cost several µs each, more than the rest of the encoding
 * (measured with the propagation benchmark's stage timings). The text is
 * exactly what JSON.stringify writes; property tests compare the two.
 */

/**
 * `JSON.stringify(text)`: the quoted characters as they are when none needs
 * an escape (a quote, a backslash, a control character, a surrogate, which
 * JSON.stringify escapes when lone), else JSON.stringify itself.
 */
export function quoteJson(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x22 || code === 0x5c || (code >= 0xd800 && code <= 0xdfff)) return JSON.stringify(text);
  }
  return `"${text}"`;
}

/** "00" … "99". */
const TWO_DIGITS: readonly string[] = Array.from({ length: 100 }, (_, i) => (i < 10 ? `0${i}` : `${i}`));

/**
 * Writes non-negative integers as `String()` does. Timestamps taken close
 * together share all but their last four digits, so those are converted once
 * and kept, and the last four come from a table.
 */
export class IntegerText {
  /** `Math.floor(value / 10 000)` of the last value written, and its text. */
  private high = -1;
  private highText = '';

  of(value: number): string {
    // Fractions, negatives, huge and small values: the builtin (and -0 prints as "0" through `+ 0`).
    if (!Number.isSafeInteger(value) || value < 10_000) return String(value + 0);
    const high = Math.floor(value / 10_000);
    const low = value - high * 10_000;
    if (high !== this.high) {
      this.high = high;
      this.highText = String(high);
    }
    return this.highText + (TWO_DIGITS[Math.floor(low / 100)] as string) + (TWO_DIGITS[low % 100] as string);
  }
}
