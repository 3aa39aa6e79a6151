/**
 * The publish deadline: each operation fails at its own deadline, with one
 * timer for all of them, under sinon fake timers like every timer here.
 */
import { expect } from 'chai';
import sinon from 'sinon';
import { Deadline } from '../../src/transports/deadline.ts';

class Expired extends Error {}

/** Where a promise stands, without waiting for it. */
function track<T>(promise: Promise<T>): { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } {
  const status: { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' };
  promise.then(
    (value) => Object.assign(status, { state: 'resolved', value }),
    (error: unknown) => Object.assign(status, { state: 'rejected', error }),
  );
  return status;
}

describe('Deadline', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers();
  });
  afterEach(() => clock.restore());

  it('resolves or fails as an operation that finishes in time does', async () => {
    const deadline = new Deadline(1_000, () => new Expired());
    const ok = track(deadline.bound(Promise.resolve(7)));
    const failure = new Error('boom');
    const failed = track(deadline.bound(Promise.reject(failure)));
    await clock.tickAsync(0);
    expect(ok).to.deep.equal({ state: 'resolved', value: 7 });
    expect(failed).to.deep.equal({ state: 'rejected', error: failure });
  });

  it('fails each operation at its own deadline, with one timer for all of them', async () => {
    const deadline = new Deadline(1_000, () => new Expired());
    const first = track(deadline.bound(new Promise(() => undefined)));
    await clock.tickAsync(600);
    const second = track(deadline.bound(new Promise(() => undefined)));
    const third = track(deadline.bound(new Promise(() => undefined)));
    expect(clock.countTimers(), 'one timer for three operations').to.equal(1);
    await clock.tickAsync(399);
    expect(first.state).to.equal('pending');
    await clock.tickAsync(1);
    expect(first.state).to.equal('rejected');
    expect(first.error).to.be.instanceOf(Expired);
    expect(second.state).to.equal('pending');
    await clock.tickAsync(599);
    expect(second.state).to.equal('pending');
    await clock.tickAsync(1);
    expect([second.state, third.state]).to.deep.equal(['rejected', 'rejected']);
    expect(clock.countTimers(), 'no timer left once nothing waits').to.equal(0);
  });

  it('an operation that finished in time is not failed later, and leaves the timer to the rest', async () => {
    const deadline = new Deadline(1_000, () => new Expired());
    let finish!: (value: string) => void;
    const done = track(deadline.bound(new Promise<string>((resolve) => (finish = resolve))));
    await clock.tickAsync(500);
    const late = track(deadline.bound(new Promise(() => undefined)));
    finish('sent');
    await clock.tickAsync(500);
    expect(done).to.deep.equal({ state: 'resolved', value: 'sent' });
    expect(late.state).to.equal('pending');
    await clock.tickAsync(500);
    expect(late.state).to.equal('rejected');
  });

  it('release() clears the timer once nothing waits, and keeps it while something does', async () => {
    const deadline = new Deadline(1_000, () => new Expired());
    const waiting = track(deadline.bound(new Promise(() => undefined)));
    deadline.release();
    expect(clock.countTimers(), 'an operation still waits').to.equal(1);
    await clock.tickAsync(1_000);
    expect(waiting.state).to.equal('rejected');
    await deadline.bound(Promise.resolve());
    expect(clock.countTimers(), 'armed by the second operation').to.equal(1);
    deadline.release();
    expect(clock.countTimers()).to.equal(0);
  });
});
