import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { COUNTERS, METRICS, replayStats } from '../src/index.ts';

describe('README', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

  it('starts with the two commands: run the demo, run the tests', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(firstBlock).to.match(/^npm install && npm start\b/m);
    expect(firstBlock).to.match(/^npm install && npm test\b/m);
  });

  it('lists every exported metric with its Prometheus name, type and labels', () => {
    for (const metric of METRICS) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${metric.prometheusName}\` |`));
      expect(row, metric.prometheusName).to.be.a('string');
      expect(row).to.include(`| ${metric.kind} |`).and.to.include(['cache', ...metric.labels].join(', '));
    }
  });

  it('maps every counted event to its stats() field and counter, one name per fact', () => {
    const lines = readme.split('\n');
    const header = lines.indexOf('| event | `stats()` field | metric |');
    expect(header, 'the event → stats() field → metric table').to.be.greaterThan(-1);
    const rows = lines.slice(header + 2, lines.indexOf('', header)).map((line) => line.split('|').slice(1, -1).map((cell) => /`([^`]+)`/.exec(cell)?.[1] ?? cell.trim()));
    const eventSources = ['events.ts', 'log-events.ts', 'coherence-events.ts', 'stale-events.ts', 'invalidation-events.ts'].map((file) => readFileSync(new URL(`../src/core/${file}`, import.meta.url), 'utf8')).join('\n');
    const eventTypes = new Set([...eventSources.matchAll(/readonly type: '([^']+)'/g)].map((m) => m[1]));
    const counters = replayStats([]) as unknown as Record<string, unknown>;
    const counterNames = new Set(COUNTERS.map((m) => m.name));
    // Per word group: the first word, then the rest in snake_case (`loadServedStale` → `load.served_stale`).
    const dotted = (path: string) => path.split('.').map((part) => part.replace(/[A-Z]/, (c) => `.${c.toLowerCase()}`).replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)).join('.');
    const kept = new Set(['coherent_cache.requests', 'coherent_cache.loads', 'coherent_cache.link.degradations']);
    for (const [event = '', field = '', metric = ''] of rows) {
      expect(eventTypes.has(event), `${event} is an event type`).to.equal(true);
      expect(field.split('.').reduce<unknown>((at, key) => (at as Record<string, unknown>)[key], counters), `stats().${field}`).not.to.equal(undefined);
      if (metric === '—') continue;
      expect(counterNames.has(metric), `${metric} is a counter`).to.equal(true);
      if (!kept.has(metric)) expect(metric, field).to.equal(`coherent_cache.${dotted(field)}`);
    }
    expect(rows.map((row) => row[2])).to.include.members([...counterNames]);
    expect(rows.map((row) => row[1]?.split('.')[0])).to.include.members(Object.keys(counters));
  });
});
