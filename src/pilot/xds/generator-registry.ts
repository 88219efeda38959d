/**
 * The one place that maps a type URL (and optionally a generator flavour, such as `grpc` for
 * proxyless gRPC clients that announce `GENERATOR: grpc` in node metadata) to the Generator
 * that builds its resources. No lookup by string concatenation elsewhere.
 */
import { ErrorCode, MizzenError } from '../../lib/errors.ts';
import { type PackedAny, packAny, packEncoded } from '../../lib/xds/any.ts';
import type { Proxy } from '../model/proxy.ts';
import type { PushRequest } from '../model/push-request.ts';

/** One named resource of a response, already packed (encode once, share across proxies). */
export interface XdsResource {
  readonly name: string;
  readonly resource: PackedAny;
}

/** What a generator may read about the proxy's subscription for its type. */
export interface WatchedResourceView {
  readonly typeUrl: string;
  /** True when the proxy wants every resource of the type. */
  readonly wildcard: boolean;
  /** Names the proxy subscribed to explicitly (may be non-empty next to a wildcard). */
  readonly resourceNames: ReadonlySet<string>;
}

export interface DeltaGeneration {
  /** Changed or added resources only. */
  readonly resources: readonly XdsResource[];
  /** Names that no longer exist. */
  readonly removed: readonly string[];
}

/**
 * Builds one xDS type from (proxy, push context). Pure: reads only `proxy` and `req.push`.
 * For a named (non-wildcard) subscription the server drops anything not subscribed, so a
 * generator may return more than was asked for.
 */
export interface Generator<Push = unknown> {
  readonly typeUrl: string;
  /** Whether `req` can change this type's output for `proxy` (a table of kinds, as in Istio). */
  needsPush(proxy: Proxy, req: PushRequest<Push>): boolean;
  /** The complete set for the proxy's subscription. */
  generate(proxy: Proxy, watched: WatchedResourceView, req: PushRequest<Push>): readonly XdsResource[];
  /** Optional incremental form for delta streams on pushes (e.g. only the changed endpoints). */
  generateDelta?(proxy: Proxy, watched: WatchedResourceView, req: PushRequest<Push>): DeltaGeneration;
}

/** Packs `message` (a snake_case object of `typeUrl`) as a named resource. */
export function xdsResource(typeUrl: string, name: string, message: object): XdsResource {
  return { name, resource: packAny(typeUrl, message) };
}

/** A named resource from bytes already encoded as `typeUrl`. */
export function encodedXdsResource(typeUrl: string, name: string, bytes: Uint8Array): XdsResource {
  return { name, resource: packEncoded(typeUrl, bytes) };
}

const DEFAULT_FLAVOUR = '';

export class GeneratorRegistry<Push = unknown> {
  readonly #byFlavour = new Map<string, Map<string, Generator<Push>>>();

  /** Registers a generator; a second one for the same type URL and flavour is an error. */
  register(generator: Generator<Push>, options: { flavour?: string } = {}): this {
    if (!generator.typeUrl.includes('/')) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `generator type URL "${generator.typeUrl}" must be a full type URL (type.googleapis.com/…)`,
      );
    }
    const flavour = options.flavour ?? DEFAULT_FLAVOUR;
    let byType = this.#byFlavour.get(flavour);
    if (!byType) this.#byFlavour.set(flavour, (byType = new Map()));
    if (byType.has(generator.typeUrl)) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `a generator for ${generator.typeUrl}${flavour ? ` (flavour ${flavour})` : ''} is already registered`,
      );
    }
    byType.set(generator.typeUrl, generator);
    return this;
  }

  /** The flavour's generator, else the default one, else undefined. */
  get(typeUrl: string, flavour?: string): Generator<Push> | undefined {
    if (flavour) {
      const g = this.#byFlavour.get(flavour)?.get(typeUrl);
      if (g) return g;
    }
    return this.#byFlavour.get(DEFAULT_FLAVOUR)?.get(typeUrl);
  }

  /** Every registered type URL (any flavour). */
  typeUrls(): string[] {
    const out = new Set<string>();
    for (const byType of this.#byFlavour.values()) for (const t of byType.keys()) out.add(t);
    return [...out];
  }
}
