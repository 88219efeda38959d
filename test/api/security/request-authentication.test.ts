/** RequestAuthentication: key sets, key-set URLs and the two spellings of jwksUri. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeText } from '../../../src/api/decode.ts';
import { jwksUriOf, type RequestAuthentication } from '../../../src/api/security/request-authentication.ts';
import { formatIssue } from '../../../src/api/yaml-document.ts';

function decode(rule: Record<string, unknown>, version = 'v1') {
  const doc = {
    apiVersion: `security.istio.io/${version}`,
    kind: 'RequestAuthentication',
    metadata: { name: 'ra', namespace: 'foo' },
    spec: { jwtRules: [rule] },
  };
  const res = decodeText(JSON.stringify(doc), 'ra.json', { defaultNamespace: 'default' });
  return {
    errors: res.issues.filter((i) => i.severity === 'error').map((i) => formatIssue(i)),
    spec: res.documents[0]?.resource?.spec as RequestAuthentication | undefined,
  };
}

const publicJwk = (type: 'rsa' | 'ec' | 'ed25519') => {
  const pair =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 1024 })
      : type === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: 'P-384' })
        : generateKeyPairSync('ed25519');
  return pair.publicKey.export({ format: 'jwk' });
};

describe('inline jwks', () => {
  it('accepts a key set of RSA, EC, OKP and oct keys', () => {
    const jwks = JSON.stringify({
      keys: [publicJwk('rsa'), publicJwk('ec'), publicJwk('ed25519'), { kty: 'oct', k: 'c2VjcmV0' }],
    });
    assert.deepEqual(decode({ issuer: 'i', jwks }).errors, []);
  });
  it('accepts a single key, as Istio does', () => {
    assert.deepEqual(decode({ issuer: 'i', jwks: JSON.stringify(publicJwk('ec')) }).errors, []);
  });
  it('refuses a key whose numbers are not a point on its curve', () => {
    const key = { ...publicJwk('ec'), y: 'AAAA' };
    const { errors } = decode({ issuer: 'i', jwks: JSON.stringify({ keys: [key] }) });
    assert.equal(errors.length, 1);
    assert.match(errors[0], /jwks key 0: not a usable EC key/);
  });
});

describe('jwksUri', () => {
  for (const uri of [
    'https://example.com/.well-known/jwks.json',
    'http://keycloak.auth.svc.cluster.local:8080/certs',
    'https://[2001:db8::1]:8443/jwks',
    'HTTPS://EXAMPLE.COM/jwks',
  ]) {
    it(`accepts ${uri}`, () => assert.deepEqual(decode({ issuer: 'i', jwksUri: uri }).errors, []));
  }
  for (const uri of [
    'https:///jwks',
    '//example.com/jwks',
    'file:///etc/jwks.json',
    'https://exa mple.com/',
    'https://h:99999/',
  ]) {
    it(`refuses ${uri}`, () => assert.equal(decode({ issuer: 'i', jwksUri: uri }).errors.length, 1));
  }
  it('jwks_uri is the same field under its proto name', () => {
    const { errors, spec } = decode({ issuer: 'i', jwks_uri: 'https://example.com/jwks' }, 'v1beta1');
    assert.deepEqual(errors, []);
    assert.equal(jwksUriOf(spec!.jwtRules![0]), 'https://example.com/jwks');
    assert.equal(jwksUriOf({ jwksUri: 'https://a.example/' }), 'https://a.example/');
    assert.equal(jwksUriOf({ issuer: 'i' }), undefined);
  });
});

it('an issuer alone is enough (the key set is then discovered from it)', () => {
  assert.deepEqual(decode({ issuer: 'https://accounts.google.com' }).errors, []);
});
