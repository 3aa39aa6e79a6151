import { expect } from 'chai';
import sinon from 'sinon';
import { Clock } from '../../src/cache/clock.ts';

describe('clock', () => {
  it('caches a reading for the hit path until the fake clock moves', () => {
    const clock = sinon.useFakeTimers({ now: 100 });
    try {
      const cacheClock = new Clock(1);
      expect(cacheClock.now()).to.equal(100);
      clock.tick(1);
      expect(cacheClock.now()).to.equal(101);
      clock.tick(250);
      expect(cacheClock.now()).to.equal(351);
    } finally {
      clock.restore();
    }
  });

  it('follows fake timers installed while a real-time reading is still cached', () => {
    const cacheClock = new Clock(1_000);
    const realNow = cacheClock.now();
    expect(realNow).to.be.greaterThan(1e12);
    const clock = sinon.useFakeTimers({ now: 0 });
    try {
      expect(cacheClock.now()).to.equal(0);
      clock.tick(5_000);
      expect(cacheClock.now()).to.equal(5_000);
    } finally {
      clock.restore();
    }
  });

  it('does not freeze when fake timers are removed with its refresh timer still pending', async () => {
    const clock = sinon.useFakeTimers({ now: 0 });
    const cacheClock = new Clock(1);
    cacheClock.now();
    clock.restore();
    // The fake refresh timer is gone; the reading must still track real time.
    const before = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(cacheClock.now()).to.be.at.least(before);
  });

  it('reads the clock on every call with resolution 0', () => {
    const clock = sinon.useFakeTimers({ now: 0 });
    try {
      const cacheClock = new Clock(0);
      cacheClock.now();
      clock.setSystemTime(42);
      expect(cacheClock.now()).to.equal(42);
    } finally {
      clock.restore();
    }
  });
});
