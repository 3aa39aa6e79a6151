/**
 * `coherent-cache/keyv`: the cache as a Keyv store, the store cache-manager 7
 * and @nestjs/cache-manager take. A separate entry point because keyv is an
 * optional peer dependency (cache-manager brings it).
 */
export { createKeyv, KeyvCoherentStore } from './adapters/keyv-store.ts';
export type { KeyvStoreOptions } from './adapters/keyv-store.ts';
