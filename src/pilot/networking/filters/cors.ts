/**
 * The CORS HTTP filter as Istio installs it in every HttpConnectionManager: empty, enabled per
 * route by a CorsPolicy in typed_per_filter_config (route/cors.ts builds those).
 */
import { typed } from '../../../lib/xds/any.ts';
import { CORS_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import { HTTP_CORS } from './names.ts';
import type { HttpFilter } from './router.ts';

export function buildCorsFilter(): HttpFilter {
  return { name: HTTP_CORS, typed_config: typed(CORS_TYPE_URL, {}) };
}
