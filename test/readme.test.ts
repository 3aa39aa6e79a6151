import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { METRICS } from '../src/index.ts';

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
});
