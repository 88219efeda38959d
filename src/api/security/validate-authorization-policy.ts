/**
 * AuthorizationPolicy semantics, following Istio's validating webhook and CRD rules: action and
 * provider, empty rules for DENY and CUSTOM, no empty `from`/`to` entries, sources and
 * operations with at least one field, IP blocks, ports, path templates, serviceAccounts, and
 * `when` conditions on the attributes Istio knows. Things Istio accepts but that cannot match
 * what the author probably meant (a `*` in the middle of a value, a lower-case method) are
 * warnings.
 */
import { validateIpOrCidr } from '../common/validators.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { type FieldPath, type Issues, show } from '../validation.ts';
import type { AuthorizationPolicy, Condition, Operation, Rule, Source } from './authorization-policy.ts';
import { DRY_RUN_ANNOTATION, parseGoBool, validatePolicyScope } from './policy-scope.ts';

const SOURCE_FIELDS = [
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'ipBlocks',
  'notIpBlocks',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
] as const satisfies readonly (keyof Source)[];

const OPERATION_FIELDS = [
  'hosts',
  'notHosts',
  'ports',
  'notPorts',
  'methods',
  'notMethods',
  'paths',
  'notPaths',
] as const satisfies readonly (keyof Operation)[];

/** Source fields the CUSTOM action cannot use: they need the peer identity the ext_authz check does not get. */
const CUSTOM_UNSUPPORTED_SOURCE = [
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
] as const;

/** Source fields that also work on plain TCP (everything except request principals). */
const TCP_SOURCE_FIELDS = SOURCE_FIELDS.filter(
  (f) => f !== 'requestPrincipals' && f !== 'notRequestPrincipals',
);

const MAX_SERVICE_ACCOUNTS = 16;
const MAX_SERVICE_ACCOUNT_LENGTH = 320;
const MAX_RULES = 512;

export function validateAuthorizationPolicy(spec: AuthorizationPolicy, ctx: SemanticContext): void {
  const { issues, path } = ctx;
  const action = spec.action ?? 'ALLOW';
  validateDryRun(action, ctx);
  validatePolicyScope(spec, ctx);

  if (action === 'CUSTOM') {
    if (spec.rules === undefined || spec.rules.length === 0) {
      issues.error(
        [...path, 'action'],
        'a CUSTOM policy without rules never triggers; add rules (an empty rule "{}" matches every request)',
      );
    } else if (spec.provider === undefined) {
      issues.error(
        [...path, 'action'],
        'the CUSTOM action requires provider.name (an extension provider of the mesh config)',
      );
    } else if (!spec.provider.name) {
      issues.error([...path, 'provider', 'name'], 'provider.name must not be empty for the CUSTOM action');
    }
  } else if (spec.provider !== undefined) {
    issues.error(
      [...path, 'provider'],
      `provider may only be set when action is CUSTOM (action is ${action})`,
    );
  }
  if (action === 'DENY' && (spec.rules === undefined || spec.rules.length === 0)) {
    issues.error(
      [...path, 'action'],
      'a DENY policy without rules never triggers; add rules (an empty rule "{}" matches every request)',
    );
  }
  const rules = spec.rules ?? [];
  if (rules.length > MAX_RULES) {
    issues.error([...path, 'rules'], `at most ${MAX_RULES} rules may be listed (found ${rules.length})`);
  }
  rules.forEach((rule, i) => {
    validateRule(rule, action, [...path, 'rules', i], issues);
  });
}

function validateDryRun(action: string, ctx: SemanticContext): void {
  const value = ctx.meta.annotations[DRY_RUN_ANNOTATION];
  if (value === undefined) return;
  const at = ['metadata', 'annotations', DRY_RUN_ANNOTATION];
  if (action !== 'ALLOW' && action !== 'DENY') {
    ctx.issues.error(
      at,
      `the ${DRY_RUN_ANNOTATION} annotation only supports the ALLOW and DENY actions (action is ${action})`,
    );
  } else if (parseGoBool(value) === undefined) {
    ctx.issues.error(at, `${show(value)} is not a valid ${DRY_RUN_ANNOTATION} value; use "true" or "false"`);
  }
}

function validateRule(rule: Rule, action: string, path: FieldPath, issues: Issues): void {
  let fromHasSource = false;
  let fromHasTcpField = false;
  let toHasOperation = false;
  let toHasPorts = false;
  (rule.from ?? []).forEach((from, j) => {
    const at = [...path, 'from', j];
    if (from.source === undefined) {
      issues.error(at, 'a from entry must set source');
      return;
    }
    fromHasSource = true;
    if (TCP_SOURCE_FIELDS.some((f) => (from.source?.[f]?.length ?? 0) > 0)) fromHasTcpField = true;
    validateSource(from.source, action, [...at, 'source'], issues);
  });
  (rule.to ?? []).forEach((to, j) => {
    const at = [...path, 'to', j];
    if (to.operation === undefined) {
      issues.error(at, 'a to entry must set operation');
      return;
    }
    toHasOperation = true;
    if ((to.operation.ports?.length ?? 0) + (to.operation.notPorts?.length ?? 0) > 0) toHasPorts = true;
    validateOperation(to.operation, [...at, 'operation'], issues);
  });
  (rule.when ?? []).forEach((condition, j) => {
    validateCondition(condition, action, [...path, 'when', j], issues);
  });
  // Istio's own warning: HTTP-only attributes in a DENY rule cannot be evaluated on TCP, and a
  // DENY rule whose attributes are missing matches, so every TCP connection would be denied.
  if (
    action === 'DENY' &&
    ((fromHasSource && !toHasOperation && !fromHasTcpField) || (toHasOperation && !toHasPorts))
  ) {
    issues.warn(
      path,
      'this DENY rule uses only HTTP attributes, so it denies all TCP traffic to the workloads in scope; list the ports it applies to in to.operation.ports',
    );
  }
}

function validateSource(source: Source, action: string, path: FieldPath, issues: Issues): void {
  const set = SOURCE_FIELDS.filter((f) => source[f] !== undefined && (source[f] as string[]).length > 0);
  if (set.length === 0) {
    issues.error(path, `source must set at least one of ${SOURCE_FIELDS.join(', ')}`);
    return;
  }
  const hasSa = set.includes('serviceAccounts') || set.includes('notServiceAccounts');
  const hasPrincipalOrNs = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'].some((f) =>
    set.includes(f as (typeof set)[number]),
  );
  if (hasSa && hasPrincipalOrNs) {
    issues.error(
      [...path, set.includes('serviceAccounts') ? 'serviceAccounts' : 'notServiceAccounts'],
      'serviceAccounts cannot be combined with principals or namespaces (or their not* forms)',
    );
  }
  if (action === 'CUSTOM') {
    for (const f of CUSTOM_UNSUPPORTED_SOURCE) {
      if (set.includes(f)) issues.error([...path, f], `${f} is not supported with the CUSTOM action`);
    }
  }
  for (const f of SOURCE_FIELDS) {
    const values = source[f];
    if (values === undefined) continue;
    const at = [...path, f];
    values.forEach((v, k) => {
      if (v === '') {
        issues.error([...at, k], 'empty value is not allowed');
        return;
      }
      if (f.endsWith('pBlocks')) validateIpOrCidr(v, [...at, k], issues, true);
      else if (f === 'serviceAccounts' || f === 'notServiceAccounts')
        validateServiceAccount(v, [...at, k], issues);
      else warnInnerWildcard(v, [...at, k], issues);
    });
    if ((f === 'serviceAccounts' || f === 'notServiceAccounts') && values.length > MAX_SERVICE_ACCOUNTS) {
      issues.error(
        at,
        `at most ${MAX_SERVICE_ACCOUNTS} service accounts may be listed (found ${values.length})`,
      );
    }
  }
}

function validateServiceAccount(value: string, path: FieldPath, issues: Issues): void {
  if (value.includes('*')) {
    issues.error(path, `${show(value)}: wildcards are not allowed in service accounts`);
  } else if (value.length > MAX_SERVICE_ACCOUNT_LENGTH) {
    issues.error(path, `${show(value)} is longer than ${MAX_SERVICE_ACCOUNT_LENGTH} characters`);
  } else {
    const parts = value.split('/');
    if (parts.length > 2 || parts.some((p) => p === '')) {
      issues.error(path, `${show(value)} is not a service account: use "name" or "namespace/name"`);
    }
  }
}

function validateOperation(op: Operation, path: FieldPath, issues: Issues): void {
  const set = OPERATION_FIELDS.filter((f) => op[f] !== undefined && (op[f] as string[]).length > 0);
  if (set.length === 0) {
    issues.error(path, `operation must set at least one of ${OPERATION_FIELDS.join(', ')}`);
    return;
  }
  for (const f of OPERATION_FIELDS) {
    const values = op[f];
    if (values === undefined) continue;
    values.forEach((v, k) => {
      const at = [...path, f, k];
      if (v === '') issues.error(at, 'empty value is not allowed');
      else if (f === 'ports' || f === 'notPorts') validatePortString(v, at, issues);
      else if (f === 'paths' || f === 'notPaths') validatePath(v, at, issues);
      else {
        warnInnerWildcard(v, at, issues);
        if ((f === 'methods' || f === 'notMethods') && v !== v.toUpperCase()) {
          issues.warn(
            at,
            `${show(v)} is not upper case; methods are compared case-sensitively, so it never matches a ${show(v.toUpperCase())} request`,
          );
        }
      }
    });
  }
}

/** Istio parses ports as unsigned integers up to 65535; 0 is accepted but can never match. */
function validatePortString(value: string, path: FieldPath, issues: Issues): boolean {
  const port = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(port <= 65535)) {
    issues.error(path, `${show(value)} is not a valid port (1-65535)`);
    return false;
  }
  if (port === 0) issues.warn(path, 'port "0" never matches a request');
  return true;
}

const PATH_LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/;

/** Paths may use the templates {*} (one segment) and {**} (any number of segments; no template after it). */
function validatePath(value: string, path: FieldPath, issues: Issues): void {
  const templated = value.includes('{*}') || value.includes('{**}');
  let anySeen = false;
  for (const segment of value.replace(/^\/+|\/+$/g, '').split('/')) {
    if (segment === '{*}' || segment === '{**}') {
      if (anySeen) {
        issues.error(path, `${show(value)} is not a valid path: no {*} or {**} may follow {**}`);
        return;
      }
      anySeen ||= segment === '{**}';
      continue;
    }
    if (/[{}]/.test(segment)) {
      issues.error(
        path,
        `${show(value)} is not a valid path: "{" and "}" are only allowed in the whole-segment templates {*} and {**}`,
      );
      return;
    }
    if (templated && !PATH_LITERAL.test(segment)) {
      issues.error(
        path,
        `${show(value)} is not a valid path template: segment ${show(segment)} is not a valid path literal`,
      );
      return;
    }
  }
  if (!templated) warnInnerWildcard(value, path, issues);
}

/**
 * Istio's string matching: "*" alone matches any non-empty value, a leading "*" is a suffix
 * match, a trailing "*" a prefix match. Any other "*" is a literal character.
 */
function warnInnerWildcard(value: string, path: FieldPath, issues: Issues): void {
  if (value === '*' || !value.includes('*')) return;
  const inner = value.startsWith('*') ? value.slice(1) : value.endsWith('*') ? value.slice(0, -1) : value;
  if (inner.includes('*')) {
    issues.warn(
      path,
      `${show(value)}: "*" is a wildcard only alone or at the start or end of a value; here it is matched literally`,
    );
  }
}

type ValueCheck = 'ip' | 'port' | 'serviceAccount' | 'string';

/** The condition keys Istio supports, and how their values are checked. */
const EXACT_KEYS: Record<string, ValueCheck> = {
  'source.ip': 'ip',
  'remote.ip': 'ip',
  'source.namespace': 'string',
  'source.serviceAccount': 'serviceAccount',
  'source.principal': 'string',
  'request.auth.principal': 'string',
  'request.auth.audiences': 'string',
  'request.auth.presenter': 'string',
  'destination.ip': 'ip',
  'destination.port': 'port',
  'connection.sni': 'string',
};
/** Keys that name a sub-attribute in brackets: `request.headers[User-Agent]`. */
const BRACKET_KEYS = ['request.headers', 'request.experimental.inline.headers', 'request.auth.claims'];
const REMOVED_KEYS: Record<string, string> = {
  'destination.namespace': 'the policy applies in its own metadata.namespace; remove this condition',
  'destination.name': 'it was only supported by the removed v1alpha1 RBAC API',
  'destination.user': 'it was only supported by the removed v1alpha1 RBAC API',
};
const CUSTOM_UNSUPPORTED_KEYS = ['source.namespace', 'source.serviceAccount', 'source.principal'];

function validateCondition(condition: Condition, action: string, path: FieldPath, issues: Issues): void {
  const { key } = condition;
  if (key === '') {
    issues.error([...path, 'key'], 'key must not be empty');
    return;
  }
  if (action === 'CUSTOM' && (CUSTOM_UNSUPPORTED_KEYS.includes(key) || key.startsWith('request.auth.'))) {
    issues.error([...path, 'key'], `${show(key)} is not supported with the CUSTOM action`);
  }
  const check = conditionValueCheck(key, [...path, 'key'], issues);
  const values = condition.values ?? [];
  const notValues = condition.notValues ?? [];
  if (values.length === 0 && notValues.length === 0) {
    issues.error(path, `at least one of values or notValues must be set for key ${show(key)}`);
    return;
  }
  for (const field of ['values', 'notValues'] as const) {
    (condition[field] ?? []).forEach((v, k) => {
      const at = [...path, field, k];
      if (v === '') issues.error(at, 'empty value is not allowed');
      else if (check === 'ip') validateIpOrCidr(v, at, issues, true);
      else if (check === 'port') validatePortString(v, at, issues);
      else if (check === 'serviceAccount') validateServiceAccount(v, at, issues);
      else if (check === 'string') warnInnerWildcard(v, at, issues);
    });
  }
}

/** Reports an unsupported key and returns undefined; otherwise how to check its values. */
function conditionValueCheck(key: string, path: FieldPath, issues: Issues): ValueCheck | undefined {
  if (Object.hasOwn(EXACT_KEYS, key)) return EXACT_KEYS[key];
  const bracket = BRACKET_KEYS.find((k) => key.startsWith(k));
  if (bracket !== undefined || key.startsWith('experimental.envoy.filters.')) {
    const open = key.indexOf('[');
    if (key.endsWith(']') && open > 0 && open < key.length - 2) return 'string';
    issues.error(
      path,
      `${show(key)} must name its sub-attribute in brackets, e.g. ${bracket ?? 'experimental.envoy.filters.network.mysql_proxy'}[name]`,
    );
    return undefined;
  }
  if (Object.hasOwn(REMOVED_KEYS, key)) {
    issues.error(path, `${show(key)} is not supported: ${REMOVED_KEYS[key]}`);
    return undefined;
  }
  if (key.startsWith('destination.labels')) {
    issues.error(
      path,
      `${show(key)} is not supported: use the policy's selector to choose workloads by label`,
    );
    return undefined;
  }
  issues.error(
    path,
    `${show(key)} is not a supported condition key; use request.headers[NAME], source.ip, remote.ip, source.namespace, source.principal, source.serviceAccount, request.auth.principal, request.auth.audiences, request.auth.presenter, request.auth.claims[NAME], destination.ip, destination.port, connection.sni or experimental.envoy.filters.*[NAME]`,
  );
  return undefined;
}
