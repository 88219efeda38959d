/**
 * The router HTTP filter, always last in an HttpConnectionManager's chain (Envoy and grpc-js-xds
 * both require that).
 */
import { typed } from '../../../lib/xds/any.ts';
import { ROUTER_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import { HTTP_ROUTER } from './names.ts';

export interface HttpFilter {
  readonly name: string;
  readonly typed_config: object;
}

export interface RouterFilterOptions {
  /** ProxyConfig.proxyHeaders.envoyDebugHeaders.disabled: drop x-envoy-* response headers. */
  readonly suppressEnvoyHeaders?: boolean;
}

export function buildRouterFilter(options: RouterFilterOptions = {}): HttpFilter {
  const router: Record<string, unknown> = {};
  if (options.suppressEnvoyHeaders) router.suppress_envoy_headers = true;
  return { name: HTTP_ROUTER, typed_config: typed(ROUTER_TYPE_URL, router) };
}
