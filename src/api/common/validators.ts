/**
 * Semantic checks shared by several kinds (Istio's validation helpers): host names and
 * wildcards, ports, labels, exportTo, regexes with RE2 semantics, percentages. Each pushes
 * issues at the given path and returns whether the value was good.
 */
import { parseDuration } from '../../lib/duration.ts';
import { re2Class } from '../../lib/lazy-module.ts';
import { type FieldPath, type Issues, show } from '../validation.ts';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_LABEL_ANY_CASE = /^[A-Za-z0-9]([-A-Za-z0-9_]*[A-Za-z0-9])?$/;

export function isDns1123Label(s: string): boolean {
  return s.length > 0 && s.length <= 63 && DNS1123_LABEL.test(s);
}

export function isDns1123Subdomain(s: string): boolean {
  return s.length > 0 && s.length <= 253 && s.split('.').every(isDns1123Label);
}

/**
 * A fully qualified or short host name as Istio accepts in `hosts`: DNS labels separated by
 * dots, optionally starting with a `*.` wildcard (or exactly `*`). Case-insensitive.
 */
export function validateWildcardHost(host: string, path: FieldPath, issues: Issues): boolean {
  if (host.length === 0) {
    issues.error(path, 'host must not be empty');
    return false;
  }
  if (host.length > 255) {
    issues.error(path, `host ${show(host)} is longer than 255 characters`);
    return false;
  }
  if (host === '*') return true;
  let rest = host;
  if (host.startsWith('*.')) rest = host.slice(2);
  else if (host.startsWith('*')) rest = host.slice(1); // "*bar.com" is accepted by Istio as a suffix match
  if (rest.endsWith('.')) rest = rest.slice(0, -1);
  const labels = rest.split('.');
  for (const label of labels) {
    if (label.length > 63 || !DNS_LABEL_ANY_CASE.test(label)) {
      issues.error(
        path,
        `${show(host)} is not a valid host name: label ${show(label)} must be 1-63 letters, digits or '-', not starting or ending with '-'${label.includes('*') ? " (a wildcard is only allowed as the leftmost label, '*.')" : ''}`,
      );
      return false;
    }
  }
  return true;
}

/** A host that may not be a wildcard (ServiceEntry DNS, WorkloadEntry address names...). */
export function validateFqdn(host: string, path: FieldPath, issues: Issues): boolean {
  if (host.includes('*')) {
    issues.error(path, `${show(host)}: wildcards are not allowed here`);
    return false;
  }
  return validateWildcardHost(host, path, issues);
}

export function validatePort(port: number, path: FieldPath, issues: Issues): boolean {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    issues.error(path, `${port} is not a valid port (1-65535)`);
    return false;
  }
  return true;
}

export function validatePercent(value: number, path: FieldPath, issues: Issues): boolean {
  if (!(value >= 0 && value <= 100)) {
    issues.error(path, `${value} is not a valid percentage (0-100)`);
    return false;
  }
  return true;
}

const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const LABEL_VALUE = /^(([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?)$/;

/** Kubernetes label key (optional DNS-subdomain prefix + '/' + name) and value rules. */
export function validateLabels(labels: Record<string, string>, path: FieldPath, issues: Issues): boolean {
  let ok = true;
  for (const [key, value] of Object.entries(labels)) {
    const slash = key.lastIndexOf('/');
    const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    if ((prefix !== undefined && !isDns1123Subdomain(prefix)) || name.length > 63 || !LABEL_NAME.test(name)) {
      issues.error([...path, key], `${show(key)} is not a valid label key`);
      ok = false;
    }
    if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) {
      issues.error(
        [...path, key],
        `${show(value)} is not a valid label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)`,
      );
      ok = false;
    }
  }
  return ok;
}

/** `exportTo`: "." (this namespace), "*" (all), "~" (none) or namespace names; "~" and "*" stand alone. */
export function validateExportTo(values: readonly string[], path: FieldPath, issues: Issues): boolean {
  let ok = true;
  const seen = new Set<string>();
  values.forEach((v, i) => {
    if (v !== '.' && v !== '*' && v !== '~' && !isDns1123Label(v)) {
      issues.error(
        [...path, i],
        `${show(v)} is not a valid exportTo value: use ".", "*", "~" or a namespace name`,
      );
      ok = false;
    }
    if (seen.has(v)) {
      issues.error([...path, i], `duplicate exportTo value ${show(v)}`);
      ok = false;
    }
    seen.add(v);
  });
  if (values.length > 1 && (seen.has('~') || seen.has('*'))) {
    issues.error(path, `${seen.has('~') ? '"~"' : '"*"'} cannot be combined with other exportTo values`);
    ok = false;
  }
  return ok;
}

const re2Cache = new Map<string, string | undefined>();

/** Checks a regular expression with RE2 syntax (what Envoy uses), not JavaScript's. */
export function re2Error(pattern: string): string | undefined {
  if (re2Cache.has(pattern)) return re2Cache.get(pattern);
  let error: string | undefined;
  try {
    new (re2Class())(pattern, 'u');
  } catch (e) {
    error = (e as Error).message.replace(/^Invalid regular expression: \/.*\/u: /s, '');
  }
  if (re2Cache.size > 10_000) re2Cache.clear();
  re2Cache.set(pattern, error);
  return error;
}

export function validateRegex(pattern: string, path: FieldPath, issues: Issues): boolean {
  const error = re2Error(pattern);
  if (error !== undefined) {
    issues.error(path, `${show(pattern)} is not a valid RE2 regular expression: ${error}`);
    return false;
  }
  return true;
}

/** IPv4/IPv6 address, or CIDR when `allowCidr`. */
export function validateIpOrCidr(
  value: string,
  path: FieldPath,
  issues: Issues,
  allowCidr: boolean,
): boolean {
  const [ip, bits, extra] = value.split('/');
  const family = ipFamily(ip);
  let ok = family !== 0 && extra === undefined;
  if (ok && bits !== undefined) {
    const n = /^\d+$/.test(bits) ? Number(bits) : -1;
    ok = allowCidr && n >= 0 && n <= (family === 4 ? 32 : 128);
  }
  if (!ok) issues.error(path, `${show(value)} is not a valid IP address${allowCidr ? ' or CIDR block' : ''}`);
  return ok;
}

export function ipFamily(ip: string): 0 | 4 | 6 {
  if (/^(\d{1,3})(\.\d{1,3}){3}$/.test(ip))
    return ip.split('.').every((o) => Number(o) <= 255 && String(Number(o)) === o) ? 4 : 0;
  if (ip.includes(':') && /^[0-9A-Fa-f:.]+$/.test(ip)) {
    const parts = ip.split('::');
    if (parts.length > 2) return 0;
    const groups = parts.flatMap((p) => (p ? p.split(':') : []));
    const tailV4 = groups.length > 0 && groups[groups.length - 1].includes('.');
    if (tailV4 && ipFamily(groups[groups.length - 1]) !== 4) return 0;
    const count = groups.length + (tailV4 ? 1 : 0);
    if (!groups.every((g) => g.includes('.') || /^[0-9A-Fa-f]{1,4}$/.test(g))) return 0;
    return (parts.length === 2 ? count <= 7 : count === 8) ? 6 : 0;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Istio's exact host, duration, exportTo and selector rules (pkg/config/validation): the webhook
// accepts upper-case letters but no '_' in host labels, refuses all-digit top-level domains, and
// allows a wildcard only in the first label ('*', '*foo' or '*-foo').
// ---------------------------------------------------------------------------------------------

const ISTIO_DNS_LABEL = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const ISTIO_WILDCARD_LABEL = /^(?:\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)$/;

/** Istio's IsDNS1123Label: letters (either case), digits and '-', at most 63 characters. */
export function isIstioDnsLabel(s: string): boolean {
  return s.length <= 63 && ISTIO_DNS_LABEL.test(s);
}

function labelProblem(host: string, label: string): string {
  return `${show(host)} is not a valid host name: label ${show(label)} must be 1-63 letters, digits or '-', not starting or ending with '-'${label.includes('*') ? " (a wildcard '*' may only start the first label)" : ''}`;
}

function dnsLabelsError(host: string, domain: string): string | undefined {
  const labels = domain.split('.');
  const tld = labels[labels.length - 1];
  if (/^\d+$/.test(tld)) {
    return `${show(host)} is not a valid host name: the top-level domain ${show(tld)} cannot be all digits`;
  }
  for (let i = 0; i < labels.length; i++) {
    // A trailing dot ("istio.io.") is an unambiguous absolute name.
    if (i === labels.length - 1 && labels[i] === '') return undefined;
    if (!isIstioDnsLabel(labels[i])) return labelProblem(host, labels[i]);
  }
  return undefined;
}

function hostPreconditionError(host: string): string | undefined {
  if (host.length === 0) return 'host must not be empty';
  if (host.length > 255) return `host ${show(host)} is longer than 255 characters`;
  return undefined;
}

/** Istio's ValidateWildcardDomain as a message (undefined when valid): `*`, `*.example.com`, `reviews`. */
export function wildcardDomainError(host: string): string | undefined {
  const pre = hostPreconditionError(host);
  if (pre) return pre;
  const dot = host.indexOf('.');
  const first = dot < 0 ? host : host.slice(0, dot);
  if (!ISTIO_WILDCARD_LABEL.test(first) || first.length > 63) return labelProblem(host, first);
  return dot < 0 ? undefined : dnsLabelsError(host, host.slice(dot + 1));
}

/** Istio's ValidateFQDN as a message: DNS labels only, no wildcard. */
export function fqdnError(host: string): string | undefined {
  return hostPreconditionError(host) ?? dnsLabelsError(host, host);
}

export function isIpAddress(s: string): boolean {
  return ipFamily(s) !== 0;
}

/**
 * Durations in Istio's APIs must be at least 1ms (the CRD's rule for every Duration), and the
 * fields Istio's webhook checks must also be whole milliseconds.
 */
export function validateMinDuration(
  value: string,
  path: FieldPath,
  issues: Issues,
  options: { msPrecision?: boolean } = {},
): boolean {
  const ms = parseDuration(value);
  if (ms === undefined) return true; // the schema reported it
  if (ms < 1) {
    issues.error(path, `${show(value)} is too short: the duration must be at least 1ms`);
    return false;
  }
  if ((options.msPrecision ?? true) && Math.abs(ms - Math.round(ms)) > 1e-9) {
    issues.error(
      path,
      `${show(value)} is not a whole number of milliseconds; only millisecond precision is supported`,
    );
    return false;
  }
  return true;
}

/**
 * `exportTo` of configuration kinds (VirtualService, DestinationRule, Gateway, Sidecar...) as
 * Istio checks it: ".", "*" or namespace names; "~" only where `allowNone` (ServiceEntry);
 * no duplicates ("." counts as the object's own namespace); "*" and "~" stand alone.
 */
export function validateConfigExportTo(
  values: readonly string[],
  namespace: string,
  path: FieldPath,
  issues: Issues,
  options: { allowNone?: boolean } = {},
): boolean {
  let ok = true;
  const seen = new Map<string, string>();
  values.forEach((v, i) => {
    const key = v === '.' ? namespace : v;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      issues.error(
        [...path, i],
        earlier !== v
          ? `duplicate exportTo value ${show(v)}: "." already stands for this namespace (${show(namespace)})`
          : `duplicate exportTo value ${show(v)}`,
      );
      ok = false;
      return;
    }
    if (v === '~' && !options.allowNone) {
      issues.error([...path, i], 'exportTo "~" (visible to no one) is only allowed for ServiceEntry');
      ok = false;
      return;
    }
    if (v !== '.' && v !== '*' && v !== '~' && !isIstioDnsLabel(v)) {
      issues.error(
        [...path, i],
        `${show(v)} is not a valid exportTo value: use ".", "*" or a namespace name`,
      );
      ok = false;
      return;
    }
    seen.set(key, v);
  });
  if (values.length > 1 && seen.has('*')) {
    issues.error(path, '"*" (all namespaces) cannot be combined with other exportTo values');
    ok = false;
  }
  if (values.length > 1 && seen.has('~')) {
    issues.error(path, '"~" (no namespace) cannot be combined with other exportTo values');
    ok = false;
  }
  return ok;
}

/**
 * istio.type.v1beta1.WorkloadSelector rules shared by every kind with a `workloadSelector` or
 * `selector`: no empty keys, no wildcards, and a warning when it selects everything.
 */
export function validateSelectorLabels(
  matchLabels: Readonly<Record<string, string>> | undefined,
  path: FieldPath,
  issues: Issues,
): boolean {
  let ok = true;
  const labels = matchLabels ?? {};
  for (const [key, value] of Object.entries(labels)) {
    const where = [...path, 'matchLabels', key];
    if (key === '') {
      issues.error(where, 'a selector label key must not be empty');
      ok = false;
    } else if (key.includes('*') || value.includes('*')) {
      issues.error(where, `wildcards are not supported in selectors (${show(`${key}=${value}`)})`);
      ok = false;
    }
  }
  if (ok && !validateLabels(labels, [...path, 'matchLabels'], issues)) ok = false;
  if (Object.keys(labels).length === 0) {
    issues.warn(path, 'the selector has no labels, so it selects every workload in the namespace');
  }
  return ok;
}
