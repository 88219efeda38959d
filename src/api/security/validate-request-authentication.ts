/**
 * RequestAuthentication semantics, following Istio's webhook and CRD rules: an issuer or a
 * key-set URL per rule, an http(s) jwksUri, an inline jwks that parses as a JSON Web Key Set,
 * non-empty token locations, valid output header names and a millisecond timeout.
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { validateMinDuration } from '../common/validators.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { type FieldPath, type Issues, show } from '../validation.ts';
import { rejectDryRunAnnotation, validatePolicyScope } from './policy-scope.ts';
import type { JwtRule, RequestAuthentication } from './request-authentication.ts';

const MAX_JWT_RULES = 4096;
const MAX_SPACE_DELIMITED_CLAIMS = 64;
const MAX_JWKS_URI = 2048;
/** RFC 7230 token characters: what a header name may be made of. */
const HEADER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Istio's strict header names for outputClaimToHeaders. */
const STRICT_HEADER = /^[-A-Za-z0-9]+$/;

export function validateRequestAuthentication(spec: RequestAuthentication, ctx: SemanticContext): void {
  const { issues, path } = ctx;
  rejectDryRunAnnotation(ctx, 'RequestAuthentication');
  validatePolicyScope(spec, ctx);
  const rules = spec.jwtRules ?? [];
  if (rules.length > MAX_JWT_RULES) {
    issues.error(
      [...path, 'jwtRules'],
      `at most ${MAX_JWT_RULES} jwtRules may be listed (found ${rules.length})`,
    );
  }
  rules.forEach((rule, i) => {
    validateJwtRule(rule, [...path, 'jwtRules', i], issues);
  });
}

function validateJwtRule(rule: JwtRule, path: FieldPath, issues: Issues): void {
  const uriField = rule.jwksUri !== undefined ? 'jwksUri' : 'jwks_uri';
  const uri = rule.jwksUri ?? rule.jwks_uri;
  if (rule.issuer === '') issues.error([...path, 'issuer'], 'issuer must not be empty');
  else if (rule.issuer === undefined && !uri) issues.error(path, 'issuer or jwksUri must be set');
  if (uri !== undefined) validateJwksUri(uri, [...path, uriField], issues);
  if (rule.jwks !== undefined) validateJwks(rule.jwks, [...path, 'jwks'], issues);
  (rule.audiences ?? []).forEach((a, k) => {
    if (a === '') issues.error([...path, 'audiences', k], 'an audience must not be empty');
  });
  (rule.fromHeaders ?? []).forEach((h, k) => {
    validateHeaderName(h.name, [...path, 'fromHeaders', k, 'name'], issues);
  });
  (rule.fromParams ?? []).forEach((p, k) => {
    if (p === '') issues.error([...path, 'fromParams', k], 'a query parameter name must not be empty');
  });
  (rule.fromCookies ?? []).forEach((c, k) => {
    if (c === '') issues.error([...path, 'fromCookies', k], 'a cookie name must not be empty');
    else if (!HEADER_TOKEN.test(c))
      issues.warn(
        [...path, 'fromCookies', k],
        `${show(c)} is not a valid cookie name, so no request can carry it`,
      );
  });
  if (rule.outputPayloadToHeader) {
    validateHeaderName(rule.outputPayloadToHeader, [...path, 'outputPayloadToHeader'], issues);
  }
  (rule.outputClaimToHeaders ?? []).forEach((c, k) => {
    const at = [...path, 'outputClaimToHeaders', k];
    if (c.header === '') issues.error([...at, 'header'], 'header must not be empty');
    else if (!STRICT_HEADER.test(c.header)) {
      issues.error(
        [...at, 'header'],
        `${show(c.header)} is not a valid header name: use letters, digits and '-'`,
      );
    }
    if (c.claim === '') issues.error([...at, 'claim'], 'claim must not be empty');
  });
  const claims = rule.spaceDelimitedClaims ?? [];
  if (claims.length > MAX_SPACE_DELIMITED_CLAIMS) {
    issues.error(
      [...path, 'spaceDelimitedClaims'],
      `at most ${MAX_SPACE_DELIMITED_CLAIMS} claims may be listed (found ${claims.length})`,
    );
  }
  claims.forEach((c, k) => {
    if (c === '') issues.error([...path, 'spaceDelimitedClaims', k], 'a claim name must not be empty');
  });
  if (rule.timeout !== undefined) validateMinDuration(rule.timeout, [...path, 'timeout'], issues);
}

function validateJwksUri(uri: string, path: FieldPath, issues: Issues): void {
  if (uri === '') {
    issues.error(path, 'jwksUri must not be empty');
    return;
  }
  if (uri.length > MAX_JWKS_URI) {
    issues.error(path, `jwksUri is longer than ${MAX_JWKS_URI} characters`);
    return;
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)?.[1].toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') {
    issues.error(path, `${show(uri)} is not a valid jwksUri: the URL scheme must be http or https`);
    return;
  }
  // WHATWG URL parsing forgives "https:///x"; a key-set URL needs an explicit host.
  const url = URL.parse(uri);
  if (url === null || !/^[A-Za-z]+:\/\/[^/?#]/.test(uri) || url.hostname === '') {
    issues.error(path, `${show(uri)} is not a valid jwksUri: expected http(s)://HOST[:PORT]/PATH`);
  }
}

/** A JSON Web Key Set (or a single JWK, which Istio also accepts), every key importable. */
function validateJwks(text: string, path: FieldPath, issues: Issues): void {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    issues.error(path, 'jwks is not valid JSON');
    return;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    issues.error(path, 'jwks must be a JSON object: a key set {"keys": [...]} or a single key');
    return;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.hasOwn(obj, 'keys') ? obj.keys : [obj];
  if (!Array.isArray(keys)) {
    issues.error(path, 'jwks "keys" must be a list of keys');
    return;
  }
  if (keys.length === 0) {
    issues.warn(path, 'jwks has no keys, so no token can be verified');
    return;
  }
  keys.forEach((key, i) => {
    const problem = jwkProblem(key);
    if (problem) issues.error(path, `jwks key ${i}: ${problem}`);
  });
}

/** The public members each asymmetric key type must carry (RFC 7518 section 6). */
const JWK_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['n', 'e'],
  EC: ['crv', 'x', 'y'],
  OKP: ['crv', 'x'],
};

function jwkProblem(key: unknown): string | undefined {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) return 'a key must be a JSON object';
  const jwk = key as Record<string, unknown>;
  if (typeof jwk.kty !== 'string') return 'kty (the key type) is required';
  if (jwk.kty === 'oct') {
    return typeof jwk.k === 'string' && /^[A-Za-z0-9_-]+$/.test(jwk.k)
      ? undefined
      : 'an "oct" key needs "k", the base64url-encoded secret';
  }
  const members = JWK_MEMBERS[jwk.kty];
  if (members === undefined) return `unsupported key type ${show(jwk.kty)} (use RSA, EC, OKP or oct)`;
  if (members.some((m) => typeof jwk[m] !== 'string')) {
    return `an ${jwk.kty} key needs ${members.map((m) => show(m)).join(', ')}`;
  }
  try {
    createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    return undefined;
  } catch (e) {
    return `not a usable ${jwk.kty} key (${(e as Error).message})`;
  }
}

/** Istio and Envoy accept any non-empty name here; one that is not an HTTP token can never match. */
function validateHeaderName(name: string, path: FieldPath, issues: Issues): void {
  if (name === '') issues.error(path, 'a header name must not be empty');
  else if (!HEADER_TOKEN.test(name)) {
    issues.warn(
      path,
      `${show(name)} is not a valid header name (letters, digits and !#$%&'*+-.^_\`|~), so no request can carry it`,
    );
  }
}
