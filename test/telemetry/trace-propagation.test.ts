/**
 * One trace across processes: a write on A (its span, the cache's PRODUCER
 * span) and the drops on B and C (CONSUMER spans that continue A's trace and
 * link to its publish span), with real processes over a real redis-server.
 */
import { expect } from 'chai';
import { SpanKind } from '@opentelemetry/api';
import { spawnChild, type ChildWorker } from '../support/child.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import type { SpanSummary, TracedPush, TracedRequest } from '../fixtures/traced-peer.ts';

describe('trace propagation across processes (real redis-server)', function () {
  this.timeout(30_000);
  let server: RedisServer;
  let peers: ChildWorker<TracedRequest, unknown, TracedPush>[] = [];

  before(async () => {
    server = await startRedis();
    peers = await Promise.all([0, 1, 2].map(() => spawnChild<TracedRequest, unknown, TracedPush>(new URL('../fixtures/traced-peer.ts', import.meta.url), [server.url])));
    await Promise.all(peers.map((peer) => peer.request({ op: 'ready' })));
  });
  after(async () => {
    for (const peer of peers) peer.kill();
    await Promise.all(peers.map((peer) => peer.exited));
    await server.stop();
  });

  it("the drops on B and C are in the writer's trace, linked to its publish span", async () => {
    const [a, ...others] = peers as [ChildWorker<TracedRequest, unknown, TracedPush>, ...ChildWorker<TracedRequest, unknown, TracedPush>[]];
    await Promise.all(peers.map((peer) => peer.request({ op: 'set', key: 'flag' })));
    const write = (await a.request({ op: 'write', key: 'flag' })) as { traceId: string; spanId: string };
    await Promise.all(others.map((peer) => peer.waitFor((m) => m.type === 'remote-invalidated' && m.key === 'flag')));

    const publisherSpans = (await a.request({ op: 'spans' })) as SpanSummary[];
    const publish = publisherSpans.find((span) => span.kind === SpanKind.PRODUCER);
    expect(publish).to.include({ name: 'publish coherent-cache:config', traceId: write.traceId, parentSpanId: write.spanId });
    for (const peer of others) {
      const spans = (await peer.request({ op: 'spans' })) as SpanSummary[];
      const processed = spans.find((span) => span.kind === SpanKind.CONSUMER);
      expect(processed).to.include({ name: 'process coherent-cache:config', traceId: write.traceId, parentSpanId: publish?.spanId });
      expect(processed?.links).to.deep.equal([publish?.spanId]);
    }
  });
});
