/**
 * Content version of a packed resource for delta xDS: a 53-bit hash of its bytes in base 36.
 * Cached per byte buffer, so resources shared between proxies are hashed once. Not
 * cryptographic: it only tells "changed" from "unchanged" for the same resource name.
 */
const cache = new WeakMap<Uint8Array, string>();

export function resourceVersion(bytes: Uint8Array): string {
  let v = cache.get(bytes);
  if (v === undefined) {
    v = hash53(bytes).toString(36);
    cache.set(bytes, v);
  }
  return v;
}

/** Two multiplicative 32-bit lanes combined into 53 bits (cyrb53-style mixing). */
function hash53(bytes: Uint8Array): number {
  let h1 = 0xdeadbeef ^ bytes.length;
  let h2 = 0x41c6ce57 ^ bytes.length;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    h1 = Math.imul(h1 ^ b, 2654435761);
    h2 = Math.imul(h2 ^ b, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
