/**
 * SDS secrets: compiled by the secret compile hook (certificates and validation contexts;
 * session ticket keys and generic secrets are NACKed by path), and the store the listener
 * manager feeds from SDS updates (added, updated, removed; generation moves on each change).
 */
import { type TestContext, test } from 'node:test';
import { ListenerManager } from '../../../src/proxy/listener/listener-manager.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import { compileSecret } from '../../../src/proxy/tls/secret-store.ts';
import type { XdsUpdate } from '../../../src/proxy/xds/client.ts';
import { pem } from './tls-support.ts';

const SDS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
const cert = (name: string) => ({
  name,
  tls_certificate: {
    certificate_chain: { inline_bytes: pem('server-a.crt') },
    private_key: { inline_bytes: pem('server-a.key') },
  },
});
const update = (added: Record<string, unknown>[], removed: string[] = []): XdsUpdate => ({
  typeUrl: SDS,
  added: added.map((message) => ({
    name: message.name as string,
    version: '1',
    // No compile hook installed: the store compiles the message itself.
    resource: {
      typeUrl: SDS,
      name: message.name as string,
      message,
      compiled: undefined,
      hash: '',
      dependencies: [],
    },
  })),
  updated: [],
  removed,
});

test('compileSecret: certificates and validation contexts; unsupported kinds by path', (t: TestContext) => {
  t.plan(5);
  const c = compileSecret(cert('a'));
  t.assert.ok(
    c.ok && c.value.kind === 'tls_certificate' && c.value.certificate.cert?.equals(pem('server-a.crt')),
  );
  const v = compileSecret({
    name: 'ca',
    validation_context: { trusted_ca: { inline_bytes: pem('ca.crt') }, verify_certificate_spki: ['bad'] },
  });
  t.assert.ok(!v.ok && v.errors.some((e) => e.path === 'validation_context.verify_certificate_spki[0]'));
  const k = compileSecret({ name: 'k', session_ticket_keys: { keys: [{ inline_string: 'x' }] } });
  t.assert.ok(!k.ok && k.errors.some((e) => e.path === 'session_ticket_keys'));
  const g = compileSecret({ name: 'g', generic_secret: { secret: { inline_string: 'x' } } });
  t.assert.ok(!g.ok && g.errors.some((e) => e.path === 'generic_secret'));
  const half = compileSecret({
    name: 'h',
    tls_certificate: { certificate_chain: { inline_bytes: pem('server-a.crt') } },
  });
  t.assert.ok(!half.ok && half.errors.some((e) => e.path === 'tls_certificate'));
});

test('the listener manager keeps SDS secrets current', (t: TestContext) => {
  t.plan(5);
  const m = new ListenerManager(new StatsStore());
  const g0 = m.secrets.generation;
  m.applySecrets(update([cert('kubernetes://a'), { name: 'bad', session_ticket_keys: { keys: [] } }]));
  t.assert.equal(m.secrets.get('kubernetes://a')?.kind, 'tls_certificate');
  t.assert.equal(m.secrets.get('bad'), undefined);
  const g1 = m.secrets.generation;
  t.assert.ok(g1 > g0);
  m.applySecrets(update([], ['kubernetes://a']));
  t.assert.equal(m.secrets.get('kubernetes://a'), undefined);
  t.assert.ok(m.secrets.generation > g1);
});
