/**
 * VirtualService `headers` (route level and per destination) -> Envoy header mutations (Istio's
 * TranslateHeadersOperations): `set` overwrites, `add` appends, `remove` removes; entries are
 * sorted by header name. Pseudo-headers and `host` cannot be mutated this way; a `:authority` or
 * `host` value in set/add becomes a host rewrite instead (set wins over add).
 */
import type { Headers } from '../../../api/networking/shared.ts';
import type { Proto } from './match.ts';

export interface HeaderOperations {
  readonly requestHeadersToAdd: Proto[];
  readonly requestHeadersToRemove: string[];
  readonly responseHeadersToAdd: Proto[];
  readonly responseHeadersToRemove: string[];
  /** Host rewrite requested through `:authority`/`host` in set or add; '' when none. */
  readonly authority: string;
}

function isInternalHeader(name: string): boolean {
  return name.startsWith(':') || name.toLowerCase() === 'host';
}

function isAuthorityHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === ':authority' || lower === 'host';
}

function headerValueOptions(
  headers: Readonly<Record<string, string>> | undefined,
  append: boolean,
): { options: Proto[]; authority: string } {
  let authority = '';
  const options: Proto[] = [];
  const keys = Object.keys(headers ?? {}).sort();
  for (const key of keys) {
    const value = (headers as Record<string, string>)[key];
    if (isAuthorityHeader(key)) authority = value;
    if (isInternalHeader(key)) continue;
    options.push({
      header: { key, value },
      append_action: append ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD',
    });
  }
  return { options, authority };
}

export function translateHeaderOperations(headers: Headers | undefined): HeaderOperations {
  const reqSet = headerValueOptions(headers?.request?.set, false);
  const reqAdd = headerValueOptions(headers?.request?.add, true);
  const respSet = headerValueOptions(headers?.response?.set, false);
  const respAdd = headerValueOptions(headers?.response?.add, true);
  return {
    requestHeadersToAdd: [...reqSet.options, ...reqAdd.options],
    requestHeadersToRemove: (headers?.request?.remove ?? []).filter((h) => !isInternalHeader(h)),
    responseHeadersToAdd: [...respSet.options, ...respAdd.options],
    responseHeadersToRemove: (headers?.response?.remove ?? []).filter((h) => !isInternalHeader(h)),
    authority: reqSet.authority !== '' ? reqSet.authority : reqAdd.authority,
  };
}

/** Appends the operations to a Route or a WeightedCluster.ClusterWeight (fields share names). */
export function applyHeaderOperations(target: Proto, ops: HeaderOperations): void {
  const append = (field: string, items: readonly unknown[]) => {
    if (items.length === 0) return;
    target[field] = [...((target[field] as unknown[] | undefined) ?? []), ...items];
  };
  append('request_headers_to_add', ops.requestHeadersToAdd);
  append('request_headers_to_remove', ops.requestHeadersToRemove);
  append('response_headers_to_add', ops.responseHeadersToAdd);
  append('response_headers_to_remove', ops.responseHeadersToRemove);
}
