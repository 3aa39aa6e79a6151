/**
 * The ops that name tags, namespaces and soft invalidations (`tag`,
 * `expire-tag`, `prefix`, `expire`): written, read, signed, and refused as
 * hostile input like a `del`.
 */
import { expect } from 'chai';
import { DEFAULT_LIMITS, decodeMessage, itemsOf, resolveLimits, signatureOf, type InvalidationMessage } from '../../src/protocol/message.ts';
import { MessageWriter, encodeMessage } from '../../src/protocol/writer.ts';
import { readCanonical } from '../../src/protocol/canonical-reader.ts';

const SECRET = 'correct horse battery staple';
const base = { v: 1, cache: 'config', origin: 'inst_x', sentAt: 1_700_000_000_000 } as const;
const MESSAGES: InvalidationMessage[] = [
  { ...base, op: 'tag', tags: ['user:1', 'org:2'] },
  { ...base, op: 'expire-tag', tags: ['user:1'] },
  { ...base, op: 'expire', keys: ['a', ''] },
  { ...base, op: 'prefix', prefixes: ['tenant:42:'] },
];

function decoded(wire: Record<string, unknown>, secret?: string) {
  return decodeMessage(JSON.stringify(wire), secret === undefined ? {} : { secret });
}

describe('protocol: tag, expire-tag, expire and prefix messages', () => {
  it('encode then decode returns the message, signed or not; the writer writes the same bytes', () => {
    const writer = new MessageWriter('config', 'inst_x', DEFAULT_LIMITS, undefined);
    for (const message of MESSAGES) {
      const wire = encodeMessage(message);
      expect(decodeMessage(wire)).to.deep.equal({ ok: true, message });
      expect(decodeMessage(encodeMessage(message, { secret: SECRET }), { secret: SECRET })).to.deep.equal({ ok: true, message });
      expect(writer.items(message.op as 'tag', itemsOf(message) ?? [], message.sentAt, undefined)).to.equal(wire);
      // Not the canonical fast path's form: read by JSON.parse.
      expect(readCanonical(wire)).to.equal(undefined);
    }
  });

  it('the signature covers the list: another tag under the same sig is refused', () => {
    const message = MESSAGES[0] as InvalidationMessage;
    const sig = signatureOf(message, SECRET);
    expect(decoded({ ...message, sig }, SECRET).ok).to.equal(true);
    expect(decoded({ ...message, tags: ['user:2', 'org:2'], sig }, SECRET)).to.deep.include({ ok: false, reason: 'bad-signature' });
    expect(decoded({ ...message }, SECRET)).to.deep.include({ ok: false, reason: 'unsigned' });
  });

  it('refuses a list that is missing, empty, of the wrong field, too long, or with an empty or too long tag or prefix', () => {
    const limits = resolveLimits({ maxKeysPerMessage: 2, maxKeyLength: 4 });
    const reasonOf = (wire: Record<string, unknown>) => {
      const result = decodeMessage(JSON.stringify(wire), { limits });
      return result.ok ? 'ok' : result.reason;
    };
    expect(reasonOf({ ...base, op: 'tag', tags: ['t'] })).to.equal('ok');
    expect(reasonOf({ ...base, op: 'tag' })).to.equal('bad-shape');
    expect(reasonOf({ ...base, op: 'tag', tags: [] })).to.equal('bad-shape');
    expect(reasonOf({ ...base, op: 'tag', keys: ['t'] })).to.equal('bad-shape');
    expect(reasonOf({ ...base, op: 'tag', tags: ['t'], keys: ['t'] })).to.equal('bad-shape');
    expect(reasonOf({ ...base, op: 'del', keys: ['k'], tags: ['t'] })).to.equal('bad-shape');
    expect(reasonOf({ ...base, op: 'clear', prefixes: ['p'] })).to.equal('bad-shape');
    expect(reasonOf({ ...base, op: 'tag', tags: ['a', 'b', 'c'] })).to.equal('too-many-keys');
    expect(reasonOf({ ...base, op: 'expire-tag', tags: [''] })).to.equal('bad-key');
    expect(reasonOf({ ...base, op: 'prefix', prefixes: [''] })).to.equal('bad-key');
    expect(reasonOf({ ...base, op: 'prefix', prefixes: ['12345'] })).to.equal('bad-key');
    expect(reasonOf({ ...base, op: 'tag', tags: [7] })).to.equal('bad-shape');
    expect(reasonOf({ ...base, op: 'expire', keys: ['k'] })).to.equal('ok');
    expect(reasonOf({ ...base, op: 'expire', keys: 'k' })).to.equal('bad-shape');
    expect(reasonOf({ ...base, op: 'toString', keys: ['k'] })).to.equal('bad-shape');
  });

  it('encodeMessage refuses what receivers would refuse', () => {
    expect(() => encodeMessage({ ...base, op: 'tag', tags: [] })).to.throw(/non-empty/);
    expect(() => encodeMessage({ ...base, op: 'prefix', prefixes: [''] })).to.throw(/bad-key/);
  });
});
