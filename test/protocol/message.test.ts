import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import sinon from 'sinon';
import {
  DEFAULT_LIMITS,
  PROTOCOL_VERSION,
  ProtocolEncodeError,
  REJECT_REASONS,
  decodeMessage,
  isValidTraceparent,
  newInstanceId,
  resolveLimits,
  signatureOf,
} from '../../src/protocol/message.ts';
import type { DecodeResult, InvalidationMessage, InvalidationOp, RejectReason } from '../../src/protocol/message.ts';
import { MessageWriter, encodeMessage } from '../../src/protocol/writer.ts';
import { LEGACY_CHANNEL, LEGACY_CLEAR_ALL, decodeLegacy, encodeLegacy } from '../../src/protocol/legacy.ts';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const SECRET = 'correct horse battery staple';

const DEL: InvalidationMessage = {
  v: 1,
  cache: 'config',
  op: 'del',
  keys: ['a', 'b'],
  origin: 'inst_x',
  sentAt: 1_700_000_000_000,
};
const CLEAR: InvalidationMessage = { v: 1, cache: 'config', op: 'clear', origin: 'inst_x', sentAt: 1_700_000_000_000 };

/** A valid v1 wire object, to break one field at a time. */
function fields(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const valid = { v: 1, cache: 'config', op: 'del', keys: ['a', 'b'], origin: 'inst_x', sentAt: 1_700_000_000_000 };
  return { ...valid, ...overrides };
}

function without(field: string): Record<string, unknown> {
  const object = fields();
  delete object[field];
  return object;
}

function expectReject(result: DecodeResult<unknown>, reason: RejectReason): string {
  if (result.ok) throw new Error(`expected a ${reason} rejection, got ${JSON.stringify(result.message)}`);
  expect(result.reason, result.detail).to.equal(reason);
  return result.detail;
}

function expectAccept<M>(result: DecodeResult<M>): M {
  if (!result.ok) throw new Error(`expected acceptance, got ${result.reason}: ${result.detail}`);
  return result.message;
}

/** Any result must be one of the two documented shapes, with a short detail. */
function expectWellFormed(result: DecodeResult<unknown>): void {
  if (result.ok) {
    expect(result.message).to.be.an('object');
  } else {
    expect(REJECT_REASONS).to.include(result.reason);
    expect(result.detail).to.be.a('string');
    expect(result.detail.length).to.be.at.most(120);
  }
}

afterEach(() => {
  sinon.restore();
});

describe('protocol: encode/decode round trips', () => {
  it('encodes a del as the documented wire form and decodes it back', () => {
    const wire = encodeMessage(DEL);
    expect(wire).to.equal(
      '{"v":1,"cache":"config","op":"del","keys":["a","b"],"origin":"inst_x","sentAt":1700000000000}',
    );
    expect(expectAccept(decodeMessage(wire))).to.deep.equal(DEL);
  });

  it('round-trips a clear, which carries no keys field', () => {
    const wire = encodeMessage(CLEAR);
    expect(JSON.parse(wire)).to.not.have.property('keys');
    expect(expectAccept(decodeMessage(wire))).to.deep.equal(CLEAR);
  });

  it('round-trips a traceparent', () => {
    const message: InvalidationMessage = { ...DEL, traceparent: TRACEPARENT };
    expect(expectAccept(decodeMessage(encodeMessage(message)))).to.deep.equal(message);
    expect(expectAccept(decodeMessage(encodeMessage(DEL)))).to.not.have.property('traceparent');
  });

  it('round-trips signed messages, and a receiver without a secret ignores the sig', () => {
    for (const message of [DEL, CLEAR, { ...DEL, traceparent: TRACEPARENT }]) {
      const wire = encodeMessage(message, { secret: SECRET });
      expect(JSON.parse(wire)).to.have.property('sig').that.matches(/^[0-9a-f]{64}$/);
      expect(expectAccept(decodeMessage(wire, { secret: SECRET }))).to.deep.equal(message);
      expect(expectAccept(decodeMessage(wire))).to.deep.equal(message);
    }
  });

  it('MessageWriter writes byte for byte what encodeMessage writes, signed or not', () => {
    fc.assert(
      fc.property(messageArb, secretArb, (message, secret) => {
        const writer = new MessageWriter(message.cache, message.origin, DEFAULT_LIMITS, secret);
        const written = message.op === 'del' ? writer.del(message.keys, message.sentAt, message.traceparent) : writer.clear(message.sentAt, message.traceparent);
        expect(written).to.equal(encodeMessage(message, { secret }));
      }),
      { numRuns: 300 },
    );
  });

  it('MessageWriter refuses a message over the size limit and an empty secret', () => {
    const limits = resolveLimits({ maxMessageBytes: 100 });
    const writer = new MessageWriter('config', 'inst_x', limits, undefined);
    expect(() => writer.del(['k'.repeat(60)], 1, undefined)).to.throw(ProtocolEncodeError).with.property('reason', 'too-large');
    expect(writer.del(['k'], 1, undefined)).to.have.length.below(100);
    expect(() => new MessageWriter('config', 'inst_x', limits, '')).to.throw(RangeError);
  });

  it('accepts a Buffer secret equal to the string secret', () => {
    const wire = encodeMessage(DEL, { secret: SECRET });
    expect(decodeMessage(wire, { secret: Buffer.from(SECRET) }).ok).to.be.true;
  });

  it('signs the documented canonical form (a test vector for other implementations)', () => {
    // HMAC-SHA256(key "k", '[1,"config","del",["a","b"],"inst_x",1700000000000,null]')
    const vector = '58526ce99710173d469797c8a2a1bbbae4e0ab504f263fa71384d02ee7e8c963';
    expect(signatureOf(DEL, 'k')).to.equal(vector);
    expect(JSON.parse(encodeMessage(DEL, { secret: 'k' }))).to.have.property('sig', vector);
    const clearWithTrace: InvalidationMessage = { ...CLEAR, traceparent: TRACEPARENT };
    expect(signatureOf(clearWithTrace, 'k')).to.equal(
      createHmac('sha256', 'k')
        .update(`[1,"config","clear",null,"inst_x",1700000000000,"${TRACEPARENT}"]`)
        .digest('hex'),
    );
  });

  it('decodes a Buffer (what ioredis messageBuffer delivers)', () => {
    expect(expectAccept(decodeMessage(Buffer.from(encodeMessage(DEL))))).to.deep.equal(DEL);
  });

  it('accepts "__proto__", "constructor" and "" as keys, which are legal cache keys', () => {
    const message = expectAccept(decodeMessage(JSON.stringify(fields({ keys: ['__proto__', 'constructor', ''] }))));
    expect(message).to.deep.include({ op: 'del', keys: ['__proto__', 'constructor', ''] });
    expect(Object.getPrototypeOf(message)).to.equal(Object.prototype);
  });

  it('builds a fresh message from the checked fields rather than returning the parsed object', () => {
    // Spelled with whitespace, so the full parser (not the canonical reader) builds the object to compare with.
    const wire = JSON.stringify(JSON.parse(encodeMessage({ ...DEL, traceparent: TRACEPARENT }, { secret: 'k' })), null, 1);
    const parse = sinon.spy(JSON, 'parse');
    const message = expectAccept(decodeMessage(wire, { secret: 'k' }));
    const parsed = parse.firstCall.returnValue as Record<string, unknown>;
    expect(message).to.not.equal(parsed);
    expect(parsed).to.have.property('sig');
    expect(Object.keys(message).sort()).to.deep.equal(['cache', 'keys', 'op', 'origin', 'sentAt', 'traceparent', 'v']);
  });

  it('turns a -0 sentAt into 0 so it re-encodes identically', () => {
    const message = expectAccept(decodeMessage(JSON.stringify(fields()).replace('1700000000000', '-0')));
    expect(Object.is(message.sentAt, 0)).to.be.true;
  });

  it('encodes only the known fields of the message object', () => {
    const withExtra = { ...DEL, extra: 'nope', sig: 'forged' } as InvalidationMessage;
    expect(JSON.parse(encodeMessage(withExtra))).to.have.all.keys('v', 'cache', 'op', 'keys', 'origin', 'sentAt');
  });

  it('refuses to encode what receivers would reject', () => {
    const tooMany = { ...DEL, keys: Array.from({ length: 1001 }, (_, i) => `k${i}`) };
    expect(() => encodeMessage(tooMany)).to.throw(ProtocolEncodeError).with.property('reason', 'too-many-keys');
    const longKey = { ...DEL, keys: ['x'.repeat(1025)] };
    expect(() => encodeMessage(longKey)).to.throw(ProtocolEncodeError).with.property('reason', 'bad-key');
    const big = { ...DEL, keys: Array.from({ length: 100 }, () => 'x'.repeat(1000)) };
    expect(() => encodeMessage(big)).to.throw(ProtocolEncodeError).with.property('reason', 'too-large');
    expect(() => encodeMessage({ ...DEL, traceparent: 'nope' }))
      .to.throw(ProtocolEncodeError)
      .with.property('reason', 'bad-shape');
    expect(() => encodeMessage({ ...DEL, keys: [] })).to.throw(ProtocolEncodeError);
    expect(() => encodeMessage(DEL, { secret: '' })).to.throw(RangeError);
  });
});

describe('protocol: rejections', () => {
  it('not-json: garbage, truncated JSON, empty input, invalid UTF-8', () => {
    for (const raw of ['not json', '{"v":1', '', '{v:1}', "{'v':1}"]) expectReject(decodeMessage(raw), 'not-json');
    expectReject(decodeMessage(Buffer.from([0x7b, 0xff, 0x7d])), 'not-json');
    // Invalid UTF-8 inside a string is rejected, not turned into U+FFFD keys.
    const [head, tail] = JSON.stringify(fields({ keys: ['@'] })).split('@') as [string, string];
    const invalidInKey = Buffer.concat([Buffer.from(head), Buffer.from([0xff]), Buffer.from(tail)]);
    expectReject(decodeMessage(invalidInKey), 'not-json');
    const invalidSlot = Buffer.from([...Buffer.from('{"slotId":"'), 0xc3, ...Buffer.from('","_origin":"i"}')]);
    expectReject(decodeLegacy(invalidSlot, { cacheName: 'c' }), 'not-json');
    // A BOM is not JSON: the decoder does not strip it.
    expectReject(decodeMessage(Buffer.from(`\ufeff${encodeMessage(DEL)}`)), 'not-json');
  });

  it('bad-shape: JSON that is not an object', () => {
    for (const raw of ['[]', '[{"v":1}]', '42', 'null', '"a string"', 'true']) {
      expectReject(decodeMessage(raw), 'bad-shape');
    }
    // Deep nesting up to the size limit does not overflow the stack.
    expectReject(decodeMessage('['.repeat(32_000) + ']'.repeat(32_000)), 'bad-shape');
  });

  it('bad-shape: missing or mistyped fields', () => {
    const cases: Record<string, unknown>[] = [
      without('v'),
      fields({ v: '1' }),
      fields({ v: null }),
      without('cache'),
      fields({ cache: 1 }),
      fields({ cache: '' }),
      fields({ cache: 'c'.repeat(257) }),
      without('origin'),
      fields({ origin: ['inst_x'] }),
      fields({ origin: '' }),
      fields({ origin: 'o'.repeat(257) }),
      without('sentAt'),
      fields({ sentAt: '1700000000000' }),
      fields({ sentAt: -1 }),
      fields({ sentAt: null }),
      without('op'),
      fields({ op: 'drop' }),
      fields({ op: 'DEL' }),
      without('keys'),
      fields({ keys: 'a' }),
      fields({ keys: [] }),
      fields({ keys: ['a', 1] }),
      fields({ keys: [null] }),
      fields({ keys: { 0: 'a', length: 1 } }),
      fields({ op: 'clear' }),
      fields({ op: 'clear', keys: [] }),
      fields({ traceparent: null }),
      fields({ traceparent: 42 }),
      fields({ traceparent: TRACEPARENT.toUpperCase() }),
      fields({ traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' }),
      fields({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01' }),
      fields({ traceparent: `ff${TRACEPARENT.slice(2)}` }),
      fields({ traceparent: `${TRACEPARENT}-extra` }),
      fields({ sig: 42 }),
    ];
    for (const object of cases) expectReject(decodeMessage(JSON.stringify(object)), 'bad-shape');
    // Infinity/NaN are not JSON; an overflowing literal parses to Infinity.
    expectReject(decodeMessage(JSON.stringify(fields()).replace('1700000000000', '1e999')), 'bad-shape');
    expect(decodeMessage(JSON.stringify(fields({ sentAt: 0 }))).ok).to.be.true;
  });

  it('bad-shape: an unknown field, even alongside valid ones', () => {
    expectReject(decodeMessage(JSON.stringify(fields({ extra: true }))), 'bad-shape');
    expectReject(decodeMessage(JSON.stringify(fields({ legacy: true }))), 'bad-shape');
  });

  it('bad-shape: an own __proto__ property (prototype pollution attempt)', () => {
    const raw = JSON.stringify(fields()).replace(/}$/, ',"__proto__":{"polluted":true}}');
    expect(Object.keys(JSON.parse(raw) as object)).to.include('__proto__');
    const detail = expectReject(decodeMessage(raw), 'bad-shape');
    expect(detail).to.contain('__proto__');
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  });

  it('reads own fields only, so a polluted Object.prototype cannot fill in a missing one', () => {
    const proto = Object.prototype as Record<string, unknown>;
    try {
      proto.sentAt = 1;
      proto.slotId = 'polluted';
      expectReject(decodeMessage(JSON.stringify(without('sentAt'))), 'bad-shape');
      expectReject(decodeLegacy('{"_origin":"inst_abc"}', { cacheName: 'c' }), 'bad-shape');
    } finally {
      delete proto.sentAt;
      delete proto.slotId;
    }
  });

  it('bad-shape: constructor and prototype fields', () => {
    expectReject(decodeMessage(JSON.stringify(fields({ constructor: { prototype: { x: 1 } } }))), 'bad-shape');
    expectReject(decodeMessage(JSON.stringify(fields({ prototype: {} }))), 'bad-shape');
  });

  it('unknown-version: another numeric version, even with fields v1 does not know', () => {
    for (const v of [2, 0, -1, 1.5]) expectReject(decodeMessage(JSON.stringify(fields({ v }))), 'unknown-version');
    expectReject(decodeMessage(JSON.stringify({ v: 2, shiny: 'new', format: [] })), 'unknown-version');
  });

  it('too-large: checked on bytes, before JSON.parse', () => {
    const parse = sinon.spy(JSON, 'parse');
    const megabyte = JSON.stringify(fields({ keys: ['x'.repeat(1024 * 1024)] }));
    const detail = expectReject(decodeMessage(megabyte), 'too-large');
    expectReject(decodeMessage(Buffer.from(megabyte)), 'too-large');
    expect(parse.called).to.be.false;
    expect(detail).to.not.contain('xxxx');
  });

  it('too-large: counts UTF-8 bytes, not characters, and accepts exactly the limit', () => {
    const wire = encodeMessage({ ...DEL, keys: ['é'.repeat(100)] });
    const bytes = Buffer.byteLength(wire);
    expect(bytes).to.be.greaterThan(wire.length);
    const atLimit = resolveLimits({ maxMessageBytes: bytes });
    expect(decodeMessage(wire, { limits: atLimit }).ok).to.be.true;
    expect(decodeMessage(Buffer.from(wire), { limits: atLimit }).ok).to.be.true;
    const belowLimit = resolveLimits({ maxMessageBytes: bytes - 1 });
    expectReject(decodeMessage(wire, { limits: belowLimit }), 'too-large');
    expectReject(decodeMessage(Buffer.from(wire), { limits: belowLimit }), 'too-large');
  });

  it('too-many-keys: over maxKeysPerMessage', () => {
    const keys = (n: number) => Array.from({ length: n }, (_, i) => String(i));
    expect(decodeMessage(JSON.stringify(fields({ keys: keys(1000) }))).ok).to.be.true;
    expectReject(decodeMessage(JSON.stringify(fields({ keys: keys(1001) }))), 'too-many-keys');
    const limits = resolveLimits({ maxKeysPerMessage: 2 });
    expectReject(decodeMessage(JSON.stringify(fields({ keys: keys(3) })), { limits }), 'too-many-keys');
  });

  it('bad-key: a key over maxKeyLength', () => {
    expect(decodeMessage(JSON.stringify(fields({ keys: ['k'.repeat(1024)] }))).ok).to.be.true;
    const detail = expectReject(decodeMessage(JSON.stringify(fields({ keys: ['a', 'k'.repeat(1025)] }))), 'bad-key');
    expect(detail).to.not.contain('kkkk');
  });

  it('unsigned: a message without sig when a secret is configured', () => {
    expectReject(decodeMessage(encodeMessage(DEL), { secret: SECRET }), 'unsigned');
  });

  it('bad-signature: forged, tampered, wrong length, wrong alphabet', () => {
    const signed = JSON.parse(encodeMessage(DEL, { secret: SECRET })) as Record<string, unknown>;
    const sig = signed.sig as string;
    const withSig = (overrides: Record<string, unknown>) => JSON.stringify({ ...signed, ...overrides });

    expectReject(decodeMessage(encodeMessage(DEL, { secret: 'another secret' }), { secret: SECRET }), 'bad-signature');
    expectReject(decodeMessage(withSig({ keys: ['a', 'c'] }), { secret: SECRET }), 'bad-signature');
    expectReject(decodeMessage(withSig({ sentAt: 1_700_000_000_001 }), { secret: SECRET }), 'bad-signature');
    expectReject(decodeMessage(withSig({ traceparent: TRACEPARENT }), { secret: SECRET }), 'bad-signature');
    for (const bad of ['', sig.slice(2), `${sig}00`, sig.toUpperCase(), `zz${sig.slice(2)}`, 'x'.repeat(5000)]) {
      expectReject(decodeMessage(withSig({ sig: bad }), { secret: SECRET }), 'bad-signature');
    }
    // An empty receiver secret fails closed rather than trusting a guessable key.
    expectReject(decodeMessage(withSig({ sig: signatureOf(DEL, '') }), { secret: '' }), 'bad-signature');
  });

  it('never echoes more than a short snippet of the input in detail', () => {
    const longName = 'y'.repeat(10_000);
    const detail = expectReject(decodeMessage(JSON.stringify(fields({ [longName]: 1 }))), 'bad-shape');
    expect(detail.length).to.be.below(100);
    expect(detail).to.not.contain('y'.repeat(33));
    const notJson = expectReject(decodeMessage(`{"v":1,${'z'.repeat(50_000)}`), 'not-json');
    expect(notJson).to.not.contain('zzz');
    const control = expectReject(decodeMessage(JSON.stringify(fields({ 'a\nFAKE LOG LINE': 1 }))), 'bad-shape');
    expect(control).to.not.contain('\n');
  });

  it('rejects a raw value that is neither a string nor bytes', () => {
    expectReject(decodeMessage(42 as unknown as string), 'not-json');
    expectReject(decodeMessage({ v: 1 } as unknown as string), 'not-json');
  });
});

describe('protocol: limits, traceparent, instance ids', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_LIMITS).to.deep.equal({ maxMessageBytes: 65536, maxKeysPerMessage: 1000, maxKeyLength: 1024 });
    expect(Object.isFrozen(DEFAULT_LIMITS)).to.be.true;
    expect(PROTOCOL_VERSION).to.equal(1);
  });

  it('resolveLimits fills defaults and rejects bad values', () => {
    expect(resolveLimits()).to.deep.equal(DEFAULT_LIMITS);
    expect(resolveLimits({ maxKeyLength: 10, maxMessageBytes: undefined })).to.deep.equal({
      ...DEFAULT_LIMITS,
      maxKeyLength: 10,
    });
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => resolveLimits({ maxKeysPerMessage: bad })).to.throw(RangeError);
    }
  });

  it('fails closed on a NaN limit that bypassed resolveLimits', () => {
    const limits = { maxMessageBytes: Number.NaN, maxKeysPerMessage: Number.NaN, maxKeyLength: Number.NaN };
    expectReject(decodeMessage(encodeMessage(DEL), { limits }), 'too-large');
  });

  it('validates traceparent against the W3C format', () => {
    expect(isValidTraceparent(TRACEPARENT)).to.be.true;
    expect(isValidTraceparent(`01${TRACEPARENT.slice(2)}`)).to.be.true;
    expect(isValidTraceparent(`01${TRACEPARENT.slice(2)}-future-fields`)).to.be.true;
    expect(isValidTraceparent(`01${TRACEPARENT.slice(2)}future`)).to.be.false;
    expect(isValidTraceparent(`${TRACEPARENT}-x`)).to.be.false;
    expect(isValidTraceparent(TRACEPARENT.slice(0, -1))).to.be.false;
    expect(isValidTraceparent(` ${TRACEPARENT}`)).to.be.false;
    expect(isValidTraceparent(`01${TRACEPARENT.slice(2)}-${'a'.repeat(300)}`)).to.be.false;
  });

  it('newInstanceId is inst_ and 16 hex characters, and random', () => {
    const a = newInstanceId();
    expect(a).to.match(/^inst_[0-9a-f]{16}$/);
    expect(newInstanceId()).to.not.equal(a);
  });
});

describe('protocol-legacy', () => {
  const options = { cacheName: 'compat-config' };

  it('exports the legacy channel', () => {
    expect(LEGACY_CHANNEL).to.equal('sentri:compat-config:invalidate');
    expect(LEGACY_CLEAR_ALL).to.equal('*');
  });

  it('decodes a slotId into a del of that key for the named cache', () => {
    const message = expectAccept(decodeLegacy('{ "slotId": "compat:deepseek", "_origin": "inst_abc" }', options));
    expect(message).to.deep.equal({
      legacy: true,
      cache: 'compat-config',
      op: 'del',
      keys: ['compat:deepseek'],
      origin: 'inst_abc',
    });
    expect(Object.isFrozen(message)).to.be.true;
    expect(message.op === 'del' && Object.isFrozen(message.keys)).to.be.true;
  });

  it('decodes "*" into a clear, and accepts Buffers and a "__proto__" slotId', () => {
    expect(expectAccept(decodeLegacy('{"slotId":"*","_origin":"inst_abc"}', options))).to.deep.equal({
      legacy: true,
      cache: 'compat-config',
      op: 'clear',
      origin: 'inst_abc',
    });
    const buffer = Buffer.from('{"slotId":"__proto__","_origin":"inst_abc"}');
    expect(expectAccept(decodeLegacy(buffer, options))).to.deep.include({ op: 'del', keys: ['__proto__'] });
  });

  it('encodes exactly the legacy shape, one payload per key', () => {
    expect(encodeLegacy({ op: 'del', keys: ['compat:deepseek', 'b'], origin: 'inst_abc' })).to.deep.equal([
      '{"slotId":"compat:deepseek","_origin":"inst_abc"}',
      '{"slotId":"b","_origin":"inst_abc"}',
    ]);
    expect(encodeLegacy(CLEAR)).to.deep.equal(['{"slotId":"*","_origin":"inst_x"}']);
    // "*" cannot be a legacy key: it over-invalidates to a clear rather than being lost.
    expect(encodeLegacy({ op: 'del', keys: ['a', '*'], origin: 'inst_x' })).to.deep.equal([
      '{"slotId":"*","_origin":"inst_x"}',
    ]);
  });

  it('refuses to encode what legacy receivers would reject', () => {
    expect(() => encodeLegacy({ op: 'del', keys: ['k'.repeat(1025)], origin: 'inst_x' }))
      .to.throw(ProtocolEncodeError)
      .with.property('reason', 'bad-key');
    expect(() => encodeLegacy({ op: 'del', keys: [], origin: 'inst_x' })).to.throw(ProtocolEncodeError);
    expect(() => encodeLegacy({ op: 'clear', origin: '' })).to.throw(ProtocolEncodeError);
  });

  it('rejects hostile legacy payloads', () => {
    const cases: [string | Buffer, RejectReason][] = [
      ['nope', 'not-json'],
      [Buffer.from([0xc3, 0x28]), 'not-json'],
      ['[]', 'bad-shape'],
      ['null', 'bad-shape'],
      ['{"slotId":"a"}', 'bad-shape'],
      ['{"_origin":"inst_abc"}', 'bad-shape'],
      ['{"slotId":1,"_origin":"inst_abc"}', 'bad-shape'],
      ['{"slotId":"a","_origin":""}', 'bad-shape'],
      ['{"slotId":"a","_origin":null}', 'bad-shape'],
      ['{"slotId":"a","_origin":"inst_abc","extra":1}', 'bad-shape'],
      ['{"slotId":"a","_origin":"inst_abc","__proto__":{"polluted":true}}', 'bad-shape'],
      ['{"slotId":"a","_origin":"inst_abc","constructor":{}}', 'bad-shape'],
      [JSON.stringify({ slotId: 's'.repeat(1025), _origin: 'inst_abc' }), 'bad-key'],
      [JSON.stringify({ slotId: 's'.repeat(1024 * 1024), _origin: 'inst_abc' }), 'too-large'],
    ];
    for (const [raw, reason] of cases) expectReject(decodeLegacy(raw, options), reason);
    // A v1 message is not a legacy message.
    expectReject(decodeLegacy(encodeMessage(DEL), options), 'bad-shape');
  });
});

// ---------------------------------------------------------------------------
// Properties

const RUNS = { numRuns: 300 };

function hexArb(bytes: number): fc.Arbitrary<string> {
  return fc
    .uint8Array({ minLength: bytes, maxLength: bytes })
    .map((b) => Buffer.from(b).toString('hex'))
    .filter((hex) => /[^0]/.test(hex));
}

const traceparentArb = fc.oneof(
  fc.tuple(hexArb(16), hexArb(8), hexArb(1)).map(([trace, parent, flags]) => `00-${trace}-${parent}-${flags}`),
  fc
    .tuple(fc.constantFrom('01', 'cc'), hexArb(16), hexArb(8), hexArb(1), fc.constantFrom('', '-', '-x-y'))
    .map(([version, trace, parent, flags, rest]) => `${version}-${trace}-${parent}-${flags}${rest}`),
);

const keyArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 10 }),
  fc.constantFrom('', '__proto__', 'constructor', 'prototype', '*', '\ud800', 'x\udc00', 'a"b\\c\n\u0000\u2028'),
);

const nameArb = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }),
  fc.constantFrom('config', '__proto__', 'n'.repeat(256), '\ud800'),
);

const sentAtArb = fc.oneof(
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }),
);

const opArb: fc.Arbitrary<InvalidationOp> = fc.oneof(
  fc.array(keyArb, { minLength: 1, maxLength: 20 }).map((keys): InvalidationOp => ({ op: 'del', keys })),
  fc.constant<InvalidationOp>({ op: 'clear' }),
);

const messageArb: fc.Arbitrary<InvalidationMessage> = fc
  .tuple(opArb, nameArb, nameArb, sentAtArb, fc.option(traceparentArb, { nil: undefined }))
  .map(([op, cache, origin, sentAt, traceparent]): InvalidationMessage => {
    const base = { v: 1 as const, cache, ...op, origin, sentAt };
    return traceparent === undefined ? base : { ...base, traceparent };
  });

const secretArb = fc.option(fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }), { nil: undefined });

const FIELDS = ['v', 'cache', 'op', 'keys', 'origin', 'sentAt', 'traceparent', 'sig'];
const fieldArb = fc.constantFrom(...FIELDS, '__proto__', 'constructor', 'prototype', 'slotId', '_origin', 'extra');

/** A valid (maybe signed) message with a few fields deleted or replaced by arbitrary JSON. */
const mutatedArb = fc
  .tuple(
    messageArb,
    secretArb,
    fc.array(fc.tuple(fieldArb, fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined })), {
      minLength: 1,
      maxLength: 3,
    }),
  )
  .map(([message, secret, edits]) => {
    const object = JSON.parse(encodeMessage(message, { secret })) as Record<string, unknown>;
    for (const [field, value] of edits) {
      if (value === undefined) delete object[field];
      // defineProperty so "__proto__" becomes an own property, as JSON.parse would make it.
      else Object.defineProperty(object, field, { value, enumerable: true, writable: true, configurable: true });
    }
    return JSON.stringify(object);
  });

function decodeEveryWay(raw: string | Uint8Array): void {
  expectWellFormed(decodeMessage(raw));
  expectWellFormed(decodeMessage(raw, { secret: SECRET }));
  expectWellFormed(decodeLegacy(raw, { cacheName: 'c' }));
}

describe('protocol: properties', () => {
  it('decoding never throws and always returns a well-formed result', () => {
    fc.assert(fc.property(fc.string(), decodeEveryWay), RUNS);
    fc.assert(fc.property(fc.string({ unit: 'binary' }), decodeEveryWay), RUNS);
    fc.assert(fc.property(fc.json(), decodeEveryWay), RUNS);
    fc.assert(
      fc.property(fc.anything(), (value) => decodeEveryWay(JSON.stringify(value) ?? 'undefined')),
      RUNS,
    );
    fc.assert(fc.property(mutatedArb, decodeEveryWay), RUNS);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => decodeEveryWay(Buffer.from(bytes))),
      RUNS,
    );
  });

  it('a mutated message is either rejected or still a valid v1 message', () => {
    fc.assert(
      fc.property(mutatedArb, (raw) => {
        const result = decodeMessage(raw);
        if (result.ok) expect(JSON.parse(encodeMessage(result.message))).to.deep.equal(withoutSig(raw));
      }),
      RUNS,
    );
  });

  it('encode then decode returns the original message, signed or not', () => {
    fc.assert(
      fc.property(messageArb, secretArb, (message, secret) => {
        const wire = encodeMessage(message, { secret });
        expect(expectAccept(decodeMessage(wire, { secret }))).to.deep.equal(message);
        // Without a secret, a signed message is still accepted (rolling out signing).
        expect(expectAccept(decodeMessage(Buffer.from(wire)))).to.deep.equal(message);
      }),
      RUNS,
    );
  });

  it('legacy encode then decode returns the keys, or a clear', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        const decoded = encodeLegacy(message).map((raw) => expectAccept(decodeLegacy(raw, { cacheName: 'c' })));
        if (message.op !== 'del' || message.keys.includes(LEGACY_CLEAR_ALL)) {
          expect(decoded).to.deep.equal([{ legacy: true, cache: 'c', op: 'clear', origin: message.origin }]);
        } else {
          expect(decoded.flatMap((m) => (m.op === 'del' ? m.keys : []))).to.deep.equal(message.keys);
        }
      }),
      RUNS,
    );
  });

  it('changing one character of a signed message never yields a different accepted message', () => {
    const charArb = fc.oneof(
      fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
      fc.constantFrom('0', '1', '9', 'a', 'f', 'e', 'E', '-', '"', '\\', ' ', ',', '}'),
    );
    fc.assert(
      fc.property(messageArb, fc.nat(), charArb, (message, at, char) => {
        const wire = encodeMessage(message, { secret: SECRET });
        const i = at % wire.length;
        const flipped = wire.slice(0, i) + char + wire.slice(i + 1);
        fc.pre(flipped !== wire);
        const result = decodeMessage(flipped, { secret: SECRET });
        if (result.ok) expect(result.message).to.deep.equal(message);
      }),
      { numRuns: 1000 },
    );
  });

  it('changing any single character of one signed message is rejected (exhaustive)', () => {
    const wire = encodeMessage({ ...DEL, keys: ['a', '__proto__'], traceparent: TRACEPARENT }, { secret: SECRET });
    for (let i = 0; i < wire.length; i++) {
      for (const char of ['0', '1', 'a', 'f', 'A', '"', '\\', ' ', '-', '}', 'x']) {
        const flipped = wire.slice(0, i) + char + wire.slice(i + 1);
        if (flipped === wire) continue;
        expect(decodeMessage(flipped, { secret: SECRET }).ok, flipped).to.be.false;
      }
    }
  });
});

function withoutSig(raw: string): unknown {
  const object = JSON.parse(raw) as Record<string, unknown>;
  delete object.sig;
  return object;
}

