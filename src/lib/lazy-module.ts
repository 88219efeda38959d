/**
 * CommonJS dependencies loaded on first use. A sidecar started from flags never parses YAML or
 * compiles a regex unless its config asks for one, and loading `yaml`, `js-yaml` and re2-wasm
 * at import time costs the proxy ~9 MB of RSS (bench/proxy/README.md, "Memory").
 */
import { createRequire } from 'node:module';
import type { RE2 } from 're2-wasm';

const require = createRequire(import.meta.url);

/** A getter that `require`s `specifier` the first time it is called and caches the module. */
export function lazyModule<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => {
    loaded ??= require(specifier) as T;
    return loaded;
  };
}

/** re2-wasm's RE2 class (instantiating the wasm module and reserving its memory on first use). */
export const re2Class: () => typeof RE2 = (() => {
  const mod = lazyModule<{ RE2: typeof RE2 }>('re2-wasm');
  return () => mod().RE2;
})();

/** The `yaml` library (positions, comments, the reference parser). */
export const yamlLib = lazyModule<typeof import('yaml')>('yaml');

/** js-yaml (the fast path for plain documents). */
export const jsYamlLib = lazyModule<typeof import('js-yaml')>('js-yaml');
