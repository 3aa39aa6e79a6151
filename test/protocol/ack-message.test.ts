/**
 * The confirmation messages of acknowledged invalidations: a message that
 * invalidates (del, clear, tag, expire-tag, expire, prefix) and asks (`ack`:
 * the request id) and the `ack` op that answers (`ack`, `to`). Both are signed like any message, the signature covering the new
 * fields; a message without them is written and signed exactly as before.
 */
import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import { decodeMessage, DEFAULT_LIMITS, signatureOf, type DecodeResult } from '../../src/protocol/message.ts';
import { MessageWriter, encodeMessage } from '../../src/protocol/writer.ts';

const SECRET = 'shared-secret';
const writer = new MessageWriter('config', 'inst_a', DEFAULT_LIMITS, undefined);
const signer = new MessageWriter('config', 'inst_b', DEFAULT_LIMITS, SECRET);

function decoded(result: DecodeResult): unknown {
  if (!result.ok) throw new Error(`rejected: ${result.reason} ${result.detail}`);
  return result.message;
}

describe('protocol: requests for confirmation and acks', () => {
  it('a del or clear that asks carries its request id; decoding keeps it', () => {
    const del = writer.asking(['k1', 'k2'], 7, 1000, undefined);
    expect(JSON.parse(del)).to.deep.equal({ v: 1, cache: 'config', op: 'del', keys: ['k1', 'k2'], origin: 'inst_a', sentAt: 1000, ack: 7 });
    expect(decoded(decodeMessage(del))).to.deep.equal({ v: 1, cache: 'config', op: 'del', keys: ['k1', 'k2'], origin: 'inst_a', sentAt: 1000, ack: 7 });
    expect(decoded(decodeMessage(writer.asking(undefined, 8, 1000, undefined)))).to.deep.include({ op: 'clear', ack: 8 });
  });

  it('an ack names the request it confirms and the instance it confirms to', () => {
    const ack = writer.ack(7, 'inst_x', 1001);
    expect(JSON.parse(ack)).to.deep.equal({ v: 1, cache: 'config', op: 'ack', origin: 'inst_a', sentAt: 1001, ack: 7, to: 'inst_x' });
    expect(decoded(decodeMessage(ack))).to.deep.equal({ v: 1, cache: 'config', op: 'ack', ack: 7, to: 'inst_x', origin: 'inst_a', sentAt: 1001 });
    expect(encodeMessage({ v: 1, cache: 'config', op: 'ack', ack: 7, to: 'inst_x', origin: 'inst_a', sentAt: 1001 })).to.equal(ack);
  });

  it('refuses malformed ones: an ack without to or ack, a bad request id, a beat or a del with to', () => {
    const base = { v: 1, cache: 'config', origin: 'inst_a', sentAt: 1 };
    for (const bad of [
      { ...base, op: 'ack', ack: 7 },
      { ...base, op: 'ack', to: 'inst_x' },
      { ...base, op: 'ack', ack: 0, to: 'inst_x' },
      { ...base, op: 'ack', ack: 1.5, to: 'inst_x' },
      { ...base, op: 'ack', ack: '7', to: 'inst_x' },
      { ...base, op: 'ack', ack: 7, to: '' },
      { ...base, op: 'ack', ack: 7, to: 'inst_x', keys: ['k'] },
      { ...base, op: 'beat', ack: 7 },
      { ...base, op: 'del', keys: ['k'], ack: 7, to: 'inst_x' },
      { ...base, op: 'clear', ack: -1 },
    ]) {
      const result = decodeMessage(JSON.stringify(bad));
      expect(result.ok, JSON.stringify(bad)).to.equal(false);
      expect(result).to.include({ reason: 'bad-shape' });
    }
  });

  it('the signature covers ack and to: a forged or altered one is rejected, an unsigned one too', () => {
    const ack = signer.ack(7, 'inst_x', 1001);
    expect(decoded(decodeMessage(ack, { secret: SECRET }))).to.deep.include({ op: 'ack', ack: 7, to: 'inst_x' });
    for (const altered of [ack.replace('"ack":7', '"ack":8'), ack.replace('"to":"inst_x"', '"to":"inst_y"')]) {
      expect(decodeMessage(altered, { secret: SECRET })).to.include({ ok: false, reason: 'bad-signature' });
    }
    expect(decodeMessage(writer.ack(7, 'inst_x', 1001), { secret: SECRET })).to.include({ ok: false, reason: 'unsigned' });
    const forged = new MessageWriter('config', 'inst_b', DEFAULT_LIMITS, 'wrong-secret').ack(7, 'inst_x', 1001);
    expect(decodeMessage(forged, { secret: SECRET })).to.include({ ok: false, reason: 'bad-signature' });
    const asking = signer.asking(['k'], 3, 5, undefined);
    expect(decoded(decodeMessage(asking, { secret: SECRET }))).to.deep.include({ ack: 3 });
    // Stripping the request from a signed del is caught too.
    expect(decodeMessage(asking.replace(',"ack":3', ''), { secret: SECRET })).to.include({ ok: false, reason: 'bad-signature' });
  });

  it('appends ack (then to) to the signed array, and signs a message without them as before', () => {
    const hmac = (fields: unknown[]) => createHmac('sha256', SECRET).update(JSON.stringify(fields)).digest('hex');
    expect(signatureOf({ v: 1, cache: 'c', op: 'ack', ack: 7, to: 'inst_x', origin: 'inst_y', sentAt: 2 }, SECRET)).to.equal(hmac([1, 'c', 'ack', null, 'inst_y', 2, null, 7, 'inst_x']));
    expect(signatureOf({ v: 1, cache: 'c', op: 'del', keys: ['k'], ack: 3, origin: 'inst_y', sentAt: 2 }, SECRET)).to.equal(hmac([1, 'c', 'del', ['k'], 'inst_y', 2, null, 3]));
    expect(signatureOf({ v: 1, cache: 'c', op: 'del', keys: ['k'], origin: 'inst_y', sentAt: 2 }, SECRET)).to.equal(hmac([1, 'c', 'del', ['k'], 'inst_y', 2, null]));
  });

  it('a tag, expire-tag, expire or prefix message may ask too: its request id is decoded, signed and covered by the signature', () => {
    for (const [op, field] of [['tag', 'tags'], ['expire-tag', 'tags'], ['expire', 'keys'], ['prefix', 'prefixes']] as const) {
      const asking = writer.items(op, ['x:'], 1000, undefined, 7);
      expect(JSON.parse(asking), op).to.deep.equal({ v: 1, cache: 'config', op, [field]: ['x:'], origin: 'inst_a', sentAt: 1000, ack: 7 });
      expect(decoded(decodeMessage(asking)), op).to.deep.include({ op, ack: 7 });
      expect(writer.items(op, ['x:'], 1000, undefined), `${op} without ack: as before`).to.equal(JSON.stringify({ v: 1, cache: 'config', op, [field]: ['x:'], origin: 'inst_a', sentAt: 1000 }));
      const signed = signer.items(op, ['x:'], 1000, undefined, 7);
      expect(decoded(decodeMessage(signed, { secret: SECRET })), op).to.deep.include({ op, ack: 7 });
      expect(signatureOf({ v: 1, cache: 'config', op, [field]: ['x:'], ack: 7, origin: 'inst_b', sentAt: 1000 }, SECRET)).to.equal((JSON.parse(signed) as { sig: string }).sig);
      for (const altered of [signed.replace('"ack":7', '"ack":8'), signed.replace(',"ack":7', '')]) {
        expect(decodeMessage(altered, { secret: SECRET }), op).to.include({ ok: false, reason: 'bad-signature' });
      }
      const forged = new MessageWriter('config', 'inst_b', DEFAULT_LIMITS, 'wrong-secret').items(op, ['x:'], 1000, undefined, 7);
      expect(decodeMessage(forged, { secret: SECRET }), op).to.include({ ok: false, reason: 'bad-signature' });
      expect(decodeMessage(writer.items(op, ['x:'], 1000, undefined, 7), { secret: SECRET }), op).to.include({ ok: false, reason: 'unsigned' });
      const base = { v: 1, cache: 'config', op, [field]: ['x:'], origin: 'inst_a', sentAt: 1 };
      for (const bad of [{ ...base, ack: 0 }, { ...base, ack: '7' }, { ...base, ack: 1.5 }, { ...base, ack: 7, to: 'inst_x' }, { ...base, to: 'inst_x' }]) {
        expect(decodeMessage(JSON.stringify(bad)), JSON.stringify(bad)).to.include({ ok: false, reason: 'bad-shape' });
      }
    }
  });

  it('writes ordinary messages byte for byte as before (no ack field, no cost)', () => {
    expect(writer.del(['k'], 1000, undefined)).to.equal('{"v":1,"cache":"config","op":"del","keys":["k"],"origin":"inst_a","sentAt":1000}');
  });
});
