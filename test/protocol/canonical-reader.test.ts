/**
 * The JSON.parse-free reader of canonical messages: on anything it accepts it
 * must return exactly what JSON.parse returns, and it must accept what peers
 * write (or the fast path would be dead code).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { readCanonical } from '../../src/protocol/canonical-reader.ts';
import { DEFAULT_LIMITS, decodeMessage, resolveLimits } from '../../src/protocol/message.ts';
import { MessageWriter } from '../../src/protocol/writer.ts';

// eslint-disable-next-line no-control-regex -- the characters that force the full parser
const ESCAPED = /[\\\u0000-\u001f]/;

const plainString = (minLength: number) => fc.string({ unit: 'grapheme', minLength, maxLength: 24 });
const traceparentArb = fc.constant('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
const writtenArb = fc
  .record({
    cache: plainString(1),
    origin: plainString(1),
    keys: fc.option(fc.array(fc.oneof(plainString(0), fc.string({ unit: 'binary', maxLength: 8 })), { minLength: 1, maxLength: 6 }), { nil: undefined }),
    sentAt: fc.oneof(fc.integer({ min: 0, max: 999_999_999_999_999 }), fc.double({ min: 0, max: 1e20, noNaN: true })),
    traceparent: fc.option(traceparentArb, { nil: undefined }),
    secret: fc.option(fc.constant('k'), { nil: undefined }),
    beat: fc.boolean(),
  })
  .map(({ cache, origin, keys, sentAt, traceparent, secret, beat }) => {
    const writer = new MessageWriter(cache, origin, DEFAULT_LIMITS, secret);
    if (beat) return writer.beat(sentAt);
    return keys === undefined ? writer.clear(sentAt, traceparent) : writer.del(keys, sentAt, traceparent);
  });

const editArb = fc.tuple(fc.nat(), fc.constantFrom('delete', 'insert', 'replace'), fc.constantFrom('"', '{', '}', '[', ']', ',', ':', '0', '7', ' ', '\\', 'a', '\n', '-', '.', 'e'));
/** A written message with one to three characters deleted, inserted or replaced. */
const mutatedArb = fc.tuple(writtenArb, fc.array(editArb, { minLength: 1, maxLength: 3 })).map(([text, edits]) => {
  let mutated = text;
  for (const [position, kind, char] of edits) {
    const at = position % (mutated.length + 1);
    mutated = kind === 'delete' ? mutated.slice(0, at) + mutated.slice(at + 1) : kind === 'insert' ? mutated.slice(0, at) + char + mutated.slice(at) : mutated.slice(0, at) + char + mutated.slice(at + 1);
  }
  return mutated;
});

function expectSameAsJsonParse(text: string): void {
  const read = readCanonical(text);
  if (read === undefined) return;
  expect(read).to.deep.equal(JSON.parse(text));
}

describe('canonical reader', () => {
  it('reads what MessageWriter writes exactly as JSON.parse does, and takes every text without escapes', () => {
    fc.assert(
      fc.property(writtenArb, (text) => {
        expectSameAsJsonParse(text);
        const integral = /"sentAt":(0|[1-9][0-9]{0,14})[,}]/.test(text);
        if (!ESCAPED.test(text) && integral) expect(readCanonical(text), text).to.not.equal(undefined);
      }),
      { numRuns: 500 },
    );
  });

  it('returns JSON.parse’s result or nothing for mutated messages, never something else', () => {
    fc.assert(
      fc.property(mutatedArb, (mutated) => expectSameAsJsonParse(mutated)),
      { numRuns: 3000 },
    );
  });

  it('decodeMessage decides the same on the canonical path as through JSON.parse, for written and mutated messages', () => {
    const limits = resolveLimits({ maxMessageBytes: 1 << 20 });
    fc.assert(
      fc.property(fc.oneof(writtenArb, mutatedArb), fc.option(fc.constant('k'), { nil: undefined }), (text, secret) => {
        // A trailing space is valid JSON the canonical reader leaves to JSON.parse.
        expect(decodeMessage(text, { limits, secret })).to.deep.equal(decodeMessage(`${text} `, { limits, secret }));
      }),
      { numRuns: 3000 },
    );
  });

  it('leaves whitespace, another field order, leading zeros and long numbers to JSON.parse', () => {
    for (const text of [
      '{"v":1, "cache":"c","op":"clear","origin":"o","sentAt":1}',
      '{"v":1,"cache":"c","origin":"o","op":"clear","sentAt":1}',
      '{"v":1,"cache":"c","op":"clear","origin":"o","sentAt":01}',
      '{"v":1,"cache":"c","op":"clear","origin":"o","sentAt":1234567890123456}',
      '{"v":1,"cache":"c","op":"clear","origin":"o","sentAt":1}\n',
      '{"v":1,"cache":"c","op":"del","keys":[],"origin":"o","sentAt":1}',
      '{"v":1,"cache":"c","op":"clear","origin":"o","sentAt":1,"sig":"s","traceparent":"t"}',
    ]) {
      expect(readCanonical(text), text).to.equal(undefined);
    }
    expect(readCanonical('{"v":1,"cache":"c","op":"del","keys":["a",""],"origin":"o","sentAt":0,"traceparent":"t","sig":"s"}')).to.deep.equal({
      v: 1,
      cache: 'c',
      op: 'del',
      keys: ['a', ''],
      origin: 'o',
      sentAt: 0,
      traceparent: 't',
      sig: 's',
    });
  });
});
