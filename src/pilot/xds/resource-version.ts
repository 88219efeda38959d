/**
 * Content version of a packed resource for delta xDS: a 53-bit hash of its bytes in base 36.
 * Cached per byte buffer, so resources shared between proxies are hashed once. Not
 * cryptographic: it only tells "changed" from "unchanged" for the same resource name.
 */
interface Hashed {
  readonly hash: number;
  version?: string;
}

const cache = new WeakMap<Uint8Array, Hashed>();

function hashed(bytes: Uint8Array): Hashed {
  let h = cache.get(bytes);
  if (h === undefined) {
    h = { hash: hash53(bytes) };
    cache.set(bytes, h);
  }
  return h;
}

export function resourceVersion(bytes: Uint8Array): string {
  const h = hashed(bytes);
  h.version ??= h.hash.toString(36);
  return h.version;
}

const signatures = new WeakMap<readonly { readonly resource: { readonly value: Uint8Array } }[], string>();

/**
 * Content signature of a list of resources (order included), cached per list object: equal
 * signatures mean the same resources at the same versions. Every type mizzend serves carries
 * its name in its bytes (Listener, RouteConfiguration, Cluster and Secret `name`,
 * ClusterLoadAssignment `cluster_name`), so the bytes' hashes cover the names too.
 */
export function listSignature(
  list: readonly { readonly resource: { readonly value: Uint8Array } }[],
): string {
  let s = signatures.get(list);
  if (s === undefined) {
    let a = 0x2545f491 ^ list.length;
    let b = 0x6a09e667;
    for (let i = 0; i < list.length; i++) {
      const h = hashed(list[i].resource.value).hash;
      a = Math.imul(a ^ (h >>> 0), 2654435761);
      a ^= a >>> 15;
      b = Math.imul(b ^ Math.floor(h / 4294967296) ^ i, 1597334677);
      b ^= b >>> 13;
    }
    s = `${list.length}:${(a >>> 0).toString(36)}:${(b >>> 0).toString(36)}`;
    signatures.set(list, s);
  }
  return s;
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
