/**
 * The in-process channel log (memory bus, node:cluster relay) and the
 * retention options every log takes: positions, reads that cover a gap or say
 * they cannot, trimming by count and by age, a new epoch on reset, and options
 * refused with a message that names them.
 */
import { expect } from 'chai';
import sinon from 'sinon';
import { CacheOptionError, MemoryBus, redisTransport } from '../../src/index.ts';
import { ChannelLog, resolveRetention } from '../../src/transports/channel-log.ts';

describe('channel log', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => (clock = sinon.useFakeTimers({ now: 1_000 })));
  afterEach(() => clock.restore());

  it('numbers entries from 1; a mark carries the head; a read returns exactly what follows a position', () => {
    const log = new ChannelLog({ maxEntries: 10, maxAge: 60_000 });
    const first = log.append('a');
    log.append('b');
    const mark = log.mark();
    expect(first).to.include({ seq: 1, entry: true });
    expect(mark).to.deep.equal({ epoch: first.epoch, seq: 2, entry: false });
    expect(log.read({ epoch: first.epoch, seq: 1 })).to.deep.equal({ epoch: first.epoch, head: 2, covered: true, entries: [{ seq: 2, payload: 'b' }] });
    expect(log.read({ epoch: first.epoch, seq: 2 })).to.deep.include({ covered: true, entries: [] });
    expect(log.read(undefined), 'no position: just the head').to.deep.include({ head: 2, covered: false });
    expect(log.read({ epoch: 'other', seq: 1 }), 'another epoch').to.deep.include({ covered: false, entries: [] });
    expect(log.read({ epoch: first.epoch, seq: 5 }), 'ahead of the head').to.deep.include({ covered: false });
  });

  it('keeps at most maxEntries: a gap reaching past them is not covered', () => {
    const log = new ChannelLog({ maxEntries: 3, maxAge: 60_000 });
    const { epoch } = log.append('1');
    for (const payload of ['2', '3', '4', '5']) log.append(payload);
    expect(log.read({ epoch, seq: 2 }).entries.map((e) => e.payload)).to.deep.equal(['3', '4', '5']);
    expect(log.read({ epoch, seq: 1 }).covered).to.equal(false);
  });

  it('keeps entries at most maxAge', () => {
    const log = new ChannelLog({ maxEntries: 100, maxAge: 5_000 });
    const { epoch } = log.append('old');
    clock.tick(4_000);
    log.append('new');
    expect(log.read({ epoch, seq: 0 }).covered).to.equal(true);
    clock.tick(1_001);
    expect(log.read({ epoch, seq: 0 }).covered, 'the first entry aged out').to.equal(false);
    expect(log.read({ epoch, seq: 1 }).entries.map((e) => e.payload)).to.deep.equal(['new']);
  });

  it('a reset starts a new epoch from 1', () => {
    const log = new ChannelLog({ maxEntries: 10, maxAge: 60_000 });
    const before = log.append('a');
    log.reset();
    const after = log.append('b');
    expect(after.seq).to.equal(1);
    expect(after.epoch).to.not.equal(before.epoch);
  });

  it('retention options: true for the defaults, bounds checked, unknown fields refused, each error naming the option', () => {
    expect(resolveRetention('log', true)).to.deep.equal({ maxEntries: 10_000, maxAge: 3_600_000 });
    expect(resolveRetention('log', undefined)).to.equal(undefined);
    expect(resolveRetention('log', false)).to.equal(undefined);
    expect(resolveRetention('log', { maxEntries: 5 })).to.deep.equal({ maxEntries: 5, maxAge: 3_600_000 });
    const refused: [unknown, RegExp][] = [
      [{ maxEntries: 0 }, /log\.maxEntries/],
      [{ maxEntries: 1.5 }, /log\.maxEntries/],
      [{ maxAge: 999 }, /log\.maxAge/],
      [{ maxAge: '1h' }, /log\.maxAge/],
      [{ keep: 1 }, /log\.keep/],
      ['yes', /log/],
    ];
    for (const [value, names] of refused) expect(() => resolveRetention('log', value), JSON.stringify(value)).to.throw(CacheOptionError, names);
    expect(() => new MemoryBus({ log: { maxEntries: -1 } })).to.throw(CacheOptionError, /log\.maxEntries/);
    expect(() => redisTransport({ url: 'redis://127.0.0.1:1', log: { maxAge: 10 } })).to.throw(CacheOptionError, /redis\.log\.maxAge/);
  });
});
