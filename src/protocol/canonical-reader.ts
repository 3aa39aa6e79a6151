/**
 * Reads a v1 message written in exactly the form `MessageWriter` writes it,
 * without JSON.parse. Every peer writes that form, so nearly every message
 * takes this path; anything else (whitespace, another field order, an escape,
 * a fraction) returns `undefined` and the caller falls back to JSON.parse.
 *
 * Why: on a process that was idle for a few milliseconds, JSON.parse of one
 * small message costs ~15 µs (its parser and the property-name table are cold),
 * and the receive path is the latency the library is judged by. This scan is a
 * handful of indexOf/slice calls.
 *
 * Why it is safe: it only accepts text without a backslash or a control
 * character, where a JSON string is exactly the characters between two quotes,
 * and it returns what JSON.parse returns for that text (a property test checks
 * it on mutated input). It checks structure only: the caller validates the
 * values as it would after JSON.parse.
 *
 * The form: {"v":1,"cache":S,"op":"del","keys":[S,…],"origin":S,"sentAt":N
 * [,"traceparent":S][,"sig":S]} or the same with "op":"clear" or "op":"beat" and no keys,
 * where S is a string and N a non-negative integer of at most 15 digits.
 */

const HEAD = '{"v":1,"cache":"';
const DEL = '","op":"del","keys":["';
const CLEAR = '","op":"clear","origin":"';
const BEAT = '","op":"beat","origin":"';
const KEYS_END = '"],"origin":"';
const SENT_AT = '","sentAt":';
const TRACEPARENT = ',"traceparent":"';
const SIG = ',"sig":"';
const MAX_DIGITS = 15;

/**
 * Whether `text` holds a backslash (an escape) or a character JSON forbids raw
 * inside a string. A loop rather than a regular expression: on a receiver idle
 * for a few ms the regex engine is cold and cost more than the rest of the scan.
 */
function needsJsonParse(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x5c) return true;
  }
  return false;
}

/** The parsed object, as JSON.parse would build it; `undefined` when the text is not in the canonical form. */
export function readCanonical(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith(HEAD) || needsJsonParse(text)) return undefined;
  let at = HEAD.length;
  let end = text.indexOf('"', at);
  if (end < 0) return undefined;
  const cache = text.slice(at, end);

  let op: 'del' | 'clear' | 'beat';
  let keys: string[] | undefined;
  if (text.startsWith(DEL, end)) {
    op = 'del';
    keys = [];
    at = end + DEL.length;
    for (;;) {
      end = text.indexOf('"', at);
      if (end < 0) return undefined;
      keys.push(text.slice(at, end));
      if (text.startsWith(KEYS_END, end)) break;
      if (!text.startsWith('","', end)) return undefined;
      at = end + 3;
    }
    at = end + KEYS_END.length;
  } else if (text.startsWith(CLEAR, end)) {
    op = 'clear';
    at = end + CLEAR.length;
  } else if (text.startsWith(BEAT, end)) {
    // Every instance hears every heartbeat: they take the fast path too.
    op = 'beat';
    at = end + BEAT.length;
  } else {
    return undefined;
  }

  end = text.indexOf('"', at);
  if (end < 0 || !text.startsWith(SENT_AT, end)) return undefined;
  const origin = text.slice(at, end);
  at = end + SENT_AT.length;
  end = at;
  // Summed digit by digit (exact below 2^53), not Number(): a builtin that is cold on an idle receiver.
  let sentAt = 0;
  while (end < text.length && end - at <= MAX_DIGITS) {
    const code = text.charCodeAt(end);
    if (code < 48 || code > 57) break;
    sentAt = sentAt * 10 + (code - 48);
    end++;
  }
  const digits = end - at;
  // JSON has no leading zeros; past 15 digits a double no longer holds every integer exactly.
  if (digits === 0 || digits > MAX_DIGITS || (digits > 1 && text.charCodeAt(at) === 48)) return undefined;

  const object: Record<string, unknown> = keys === undefined ? { v: 1, cache, op, origin, sentAt } : { v: 1, cache, op, keys, origin, sentAt };
  at = end;
  if (text.startsWith(TRACEPARENT, at)) {
    end = text.indexOf('"', at + TRACEPARENT.length);
    if (end < 0) return undefined;
    object['traceparent'] = text.slice(at + TRACEPARENT.length, end);
    at = end + 1;
  }
  if (text.startsWith(SIG, at)) {
    end = text.indexOf('"', at + SIG.length);
    if (end < 0) return undefined;
    object['sig'] = text.slice(at + SIG.length, end);
    at = end + 1;
  }
  return at === text.length - 1 && text.charCodeAt(at) === 125 /* } */ ? object : undefined;
}
