/**
 * The fault HTTP filter as it sits in every HttpConnectionManager Istio builds: empty at the
 * listener, so only routes carrying a per-route HTTPFault (typed_per_filter_config) inject faults.
 * The per-route translation lives in route/fault.ts.
 */
import { typed } from '../../../lib/xds/any.ts';
import { HTTP_FAULT_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import { HTTP_FAULT } from './names.ts';
import type { HttpFilter } from './router.ts';

export function buildFaultFilter(): HttpFilter {
  return { name: HTTP_FAULT, typed_config: typed(HTTP_FAULT_TYPE_URL, {}) };
}
