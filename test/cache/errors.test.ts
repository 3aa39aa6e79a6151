/**
 * Errors are recorded by class name, never message: a subclass that does not
 * set `name` is still recorded as itself, in the events and on spans; a name
 * that does not look like a class name (caller-controlled text) is `Error`.
 */
import { expect } from 'chai';
import { createCache, otelTracing } from '../../src/index.ts';
import { errorType } from '../../src/cache/errors.ts';
import { testTracerProvider } from '../support/otel.ts';

class QuotaError extends Error {}
class NarrowTypeError extends TypeError {}
class Named extends Error {
  override readonly name = 'NamedOnPurpose';
}
class DeeperQuota extends QuotaError {}

describe('errorType', () => {
  it('names a subclass that does not set name by its class, through any depth and any built-in base', () => {
    expect(errorType(new QuotaError('over 42'))).to.equal('QuotaError');
    expect(errorType(new DeeperQuota('x'))).to.equal('DeeperQuota');
    expect(errorType(new NarrowTypeError('x'))).to.equal('NarrowTypeError');
  });

  it('keeps built-in and explicitly set names', () => {
    expect(errorType(new Error('x'))).to.equal('Error');
    expect(errorType(new TypeError('x'))).to.equal('TypeError');
    expect(errorType(new Named('x'))).to.equal('NamedOnPurpose');
    const own = new QuotaError('x');
    own.name = 'Error';
    expect(errorType(own), 'a name the instance sets is what it says it is').to.equal('Error');
    expect(errorType(new DOMException('x', 'AbortError'))).to.equal('AbortError');
  });

  it('reports Error for names and class names that are not identifiers, and typeof for non-errors', () => {
    const anonymous = (() => class extends Error {})();
    expect(errorType(new anonymous('x'))).to.equal('Error');
    const tainted = new Error('x');
    tainted.name = 'value 42 leaked';
    expect(errorType(tainted)).to.equal('Error');
    const Weird = { ['has space']: class extends Error {} }['has space'];
    expect(errorType(new Weird('x'))).to.equal('Error');
    expect(errorType('a string')).to.equal('string');
    expect(errorType(undefined)).to.equal('undefined');
  });

  it('reaches the loaded event and the load span as the class name', async () => {
    const { tracerProvider, exporter } = testTracerProvider();
    const cache = createCache<string>({ name: 'errors', metrics: false, tracing: otelTracing({ tracerProvider }) });
    const names: (string | undefined)[] = [];
    cache.on('loaded', (event) => names.push(event.errorName));
    await cache.get('k', () => Promise.reject(new QuotaError('over 42'))).catch(() => undefined);
    expect(names).to.deep.equal(['QuotaError']);
    expect(exporter.getFinishedSpans()[0]?.attributes['error.type']).to.equal('QuotaError');
    await cache.close();
  });
});
