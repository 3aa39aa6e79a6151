/** The delivery every transport shares. */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import sinon from 'sinon';
import { redisTransport } from '../../src/transports/redis.ts';
import { deliverPayload, type PayloadListener } from '../../src/transports/transport.ts';

describe('transport delivery', () => {
  it('hands a payload to each listener once; listeners added or removed meanwhile take effect from the next payload', () => {
    const heard: string[] = [];
    const listeners = new Set<PayloadListener>();
    const late: PayloadListener = (payload) => heard.push(`late ${payload}`);
    const leaving: PayloadListener = (payload) => heard.push(`leaving ${payload}`);
    listeners.add((payload) => {
      heard.push(`first ${payload}`);
      listeners.add(late);
      listeners.delete(leaving);
    });
    listeners.add(leaving);
    deliverPayload(listeners, 'a');
    deliverPayload(listeners, 'b');
    deliverPayload(undefined, 'c');
    expect(heard).to.deep.equal(['first a', 'leaving a', 'first b', 'late b']);
  });

  it('a lone listener that adds another is called alone; the new one hears from the next payload', () => {
    const heard: string[] = [];
    const listeners = new Set<PayloadListener>();
    const added: PayloadListener = (payload) => heard.push(`added ${payload}`);
    listeners.add((payload) => {
      heard.push(`lone ${payload}`);
      listeners.add(added);
    });
    deliverPayload(listeners, 'a');
    deliverPayload(listeners, 'b');
    expect(heard).to.deep.equal(['lone a', 'lone b', 'added b']);
  });

  it('a Redis publish whose client throws rejects instead of throwing', async () => {
    // Never connects: lazyConnect, and the transport only connects when something subscribes.
    const client = new Redis({ lazyConnect: true });
    const failure = new Error('client threw');
    sinon.stub(client, 'publish').throws(failure);
    const transport = redisTransport({ client });
    let outcome: unknown;
    try {
      await transport.publish('channel', ['payload']).catch((error: unknown) => (outcome = error));
    } finally {
      await transport.close();
      client.disconnect();
    }
    expect(outcome).to.equal(failure);
  });

  it('a closed Redis transport leaves no publish timer behind', async () => {
    const clock = sinon.useFakeTimers();
    const client = new Redis({ lazyConnect: true });
    try {
      sinon.stub(client, 'publish').resolves(1);
      const transport = redisTransport({ client });
      // ioredis schedules timers of its own: count only what the publish adds.
      const before = clock.countTimers();
      await transport.publish('channel', ['payload']);
      expect(clock.countTimers(), 'the publish deadline is armed').to.equal(before + 1);
      await transport.close();
      expect(clock.countTimers()).to.equal(before);
    } finally {
      clock.restore();
      client.disconnect();
    }
  });
});
