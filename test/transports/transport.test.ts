/** The delivery every transport shares. */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import sinon from 'sinon';
import { createCache, MemoryBus, TransportClosedError } from '../../src/index.ts';
import { redisTransport } from '../../src/transports/redis.ts';
import { rejectionOf } from '../support/rejection.ts';
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

describe('memory transport', () => {
  it('onWritable: listeners hear each reconnect() after a disconnect(), until they unsubscribe', () => {
    const transport = new MemoryBus().transport();
    const heard: string[] = [];
    const stopA = transport.onWritable(() => heard.push('a'));
    transport.onWritable(() => {
      throw new Error('one listener failing');
    });
    transport.onWritable(() => heard.push('c'));
    transport.reconnect();
    expect(heard, 'already connected: nothing came back').to.deep.equal([]);
    transport.disconnect();
    transport.reconnect();
    expect(heard).to.deep.equal(['a', 'c']);
    stopA();
    transport.disconnect();
    transport.reconnect();
    expect(heard).to.deep.equal(['a', 'c', 'c']);
  });

  it('closed stays closed: it neither reconnects nor subscribes, and a cache on it is never ready', async () => {
    const transport = new MemoryBus().transport();
    let writable = 0;
    transport.onWritable(() => writable++);
    transport.disconnect();
    await transport.close();
    transport.reconnect();
    transport.disconnect();
    expect(transport.status).to.equal('closed');
    expect(writable).to.equal(0);
    expect((await rejectionOf(transport.subscribe('ch', () => undefined))).message).to.equal('memory transport is closed');
    const cache = createCache<string>({ name: 'late', transport, metrics: false });
    try {
      expect(await rejectionOf(cache.ready())).to.be.instanceOf(TransportClosedError);
      expect(cache.snapshot().link).to.equal('degraded');
    } finally {
      await cache.close();
    }
  });
});
