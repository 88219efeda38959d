/**
 * Envoy extension types the translators need that src/lib/xds/protos.ts does not load yet: the
 * retry host predicate and retry priority Istio puts in every retry policy.
 *
 * PENDING MOVE (owner of src/lib/xds): add these files to ENVOY_PROTO_FILES and the type URLs to
 * type-urls.ts, then delete this module. Until then `ensureExtensionProtos()` loads them into the
 * shared root (the same one canonical JSON and packing use), once, only when they are missing.
 */
import { envoyProtos, hasMessageType } from '../../../lib/xds/protos.ts';

export const PREVIOUS_HOSTS_PREDICATE_TYPE_URL =
  'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate';
export const PREVIOUS_PRIORITIES_CONFIG_TYPE_URL =
  'type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig';

const EXTENSIONS: readonly (readonly [typeUrl: string, file: string])[] = [
  [PREVIOUS_HOSTS_PREDICATE_TYPE_URL, 'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto'],
  [
    PREVIOUS_PRIORITIES_CONFIG_TYPE_URL,
    'envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto',
  ],
];

let loaded = false;

/** Loads the missing extension protos into the shared root (idempotent, cheap after the first call). */
export function ensureExtensionProtos(): void {
  if (loaded) return;
  const root = envoyProtos();
  let added = false;
  for (const [typeUrl, file] of EXTENSIONS) {
    if (hasMessageType(typeUrl)) continue;
    // The root keeps proto-loader's include-path resolver, so imports resolve as for the rest.
    root.loadSync(file, { keepCase: true });
    added = true;
  }
  if (added) root.resolveAll();
  loaded = true;
}
