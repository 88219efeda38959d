/**
 * SDS secrets a listener's or cluster's transport socket asks for over ADS: the names in
 * `tls_certificate_sds_secret_configs` and `validation_context_sds_secret_config` whose
 * `sds_config` is `ads` or `self`. They are dependencies: the resource warms until its secrets
 * arrive, as in Envoy. Secrets from other config sources (or static ones) are the transport
 * socket compiler's business, so they are not dependencies here.
 */
import { SECRET_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import {
  checkAdsConfigSource,
  type Dependency,
  dependency,
  isObject,
  join,
  list,
  type ProtoMessage,
  type ResourceIssues,
} from './resource-type.ts';

function sdsSecret(config: unknown, path: string, issues: ResourceIssues, out: Dependency[]): void {
  if (!isObject(config)) return;
  const source = config.sds_config;
  if (!isObject(source)) return;
  const which = source.config_source_specifier;
  const viaAds = which === 'ads' || which === 'self' || isObject(source.ads) || isObject(source.self);
  if (!viaAds) return;
  const name = config.name;
  if (typeof name !== 'string' || name === '') {
    issues.error(join(path, 'name'), 'an SDS secret config needs the name of the secret');
    return;
  }
  const timeout = checkAdsConfigSource(
    source,
    join(path, 'sds_config'),
    `secret ${JSON.stringify(name)}`,
    issues,
  );
  if (timeout === null) return;
  out.push(dependency(SECRET_TYPE_URL, name, timeout));
}

/** Secrets of one CommonTlsContext. */
function commonTlsContext(ctx: unknown, path: string, issues: ResourceIssues, out: Dependency[]): void {
  if (!isObject(ctx)) return;
  list(ctx.tls_certificate_sds_secret_configs).forEach((c, i) => {
    sdsSecret(c, join(join(path, 'tls_certificate_sds_secret_configs'), i), issues, out);
  });
  sdsSecret(
    ctx.validation_context_sds_secret_config,
    join(path, 'validation_context_sds_secret_config'),
    issues,
    out,
  );
  const combined = ctx.combined_validation_context;
  if (isObject(combined)) {
    sdsSecret(
      combined.validation_context_sds_secret_config,
      join(join(path, 'combined_validation_context'), 'validation_context_sds_secret_config'),
      issues,
      out,
    );
  }
}

/** Secrets of a core.v3.TransportSocket holding an Upstream- or DownstreamTlsContext. */
export function transportSocketSecrets(
  socket: unknown,
  path: string,
  issues: ResourceIssues,
  out: Dependency[],
): void {
  if (!isObject(socket)) return;
  const typed = socket.typed_config as ProtoMessage | null | undefined;
  if (!isObject(typed) || typeof typed['@type'] !== 'string') return;
  const at = join(path, 'typed_config');
  commonTlsContext(typed.common_tls_context, join(at, 'common_tls_context'), issues, out);
}

/** Drops repeated dependencies (same type and name), keeping the longest fetch timeout. */
export function uniqueDependencies(deps: readonly Dependency[]): Dependency[] {
  const byKey = new Map<string, Dependency>();
  for (const d of deps) {
    const key = `${d.typeUrl}\n${d.name}`;
    const prev = byKey.get(key);
    if (!prev) {
      byKey.set(key, d);
      continue;
    }
    // 0 (wait forever) wins; otherwise the longer timeout; undefined is the client default.
    const a = prev.initialFetchTimeoutMs;
    const b = d.initialFetchTimeoutMs;
    if (a === 0 || b === undefined) continue;
    if (b === 0 || a === undefined || b > a) byKey.set(key, d);
  }
  return [...byKey.values()];
}
