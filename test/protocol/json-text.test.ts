/**
 * The publisher's builtin-free JSON text: it must be exactly what
 * JSON.stringify and String() write, for every input, or receivers would
 * read another key or time than the one sent.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { IntegerText, quoteJson } from '../../src/protocol/json-text.ts';

describe('json-text', () => {
  it('quoteJson writes what JSON.stringify writes, for any string (escapes and lone surrogates included)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\ud800', '\udfff', 'é', 'a') })), (text) => {
        expect(quoteJson(text)).to.equal(JSON.stringify(text));
      }),
      { numRuns: 2_000 },
    );
  });

  it('quoteJson keeps a surrogate pair and escapes a lone surrogate as JSON.stringify does', () => {
    expect(quoteJson('a😀b')).to.equal('"a😀b"');
    expect(quoteJson('\ud83d')).to.equal('"\\ud83d"');
    expect(quoteJson('')).to.equal('""');
  });

  it('IntegerText writes what String() writes, through any sequence of values on one instance', () => {
    const value = fc.oneof(
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      // Timestamps close together: the cached high digits are reused, and must change when they change.
      fc.integer({ min: 1_700_000_000_000, max: 1_700_000_100_000 }),
      fc.double(),
      fc.constantFrom(-0, 0, 9_999, 10_000, 10_001, 19_999, 20_000, Number.MAX_SAFE_INTEGER + 1, -1, 0.5),
    );
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 30 }), (values) => {
        const text = new IntegerText();
        for (const v of values) expect(text.of(v)).to.equal(String(v + 0));
      }),
      { numRuns: 1_000 },
    );
  });

  it('IntegerText pads the last four digits', () => {
    const text = new IntegerText();
    expect(text.of(1_700_000_000_007)).to.equal('1700000000007');
    expect(text.of(1_700_000_000_100)).to.equal('1700000000100');
    expect(text.of(1_700_000_010_000)).to.equal('1700000010000');
  });
});
