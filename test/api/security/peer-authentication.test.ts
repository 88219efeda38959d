/** PeerAuthentication: the model across versions and port-level modes. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { decodeText } from '../../../src/api/decode.ts';
import { KINDS } from '../../../src/api/schema/kinds.ts';
import { type PeerAuthentication, portLevelModes } from '../../../src/api/security/peer-authentication.ts';

function spec(version: string, body: string): PeerAuthentication | undefined {
  const text = `apiVersion: security.istio.io/${version}\nkind: PeerAuthentication\nmetadata:\n  name: pa\nspec:\n${body}\n`;
  const res = decodeText(text, 'pa.yaml', { defaultNamespace: 'default' });
  assert.deepEqual(res.issues, []);
  return res.documents[0].resource?.spec as PeerAuthentication;
}

const body =
  '  selector:\n    matchLabels:\n      app: a\n  mtls:\n    mode: STRICT\n  portLevelMtls:\n    8080:\n      mode: DISABLE\n    "9090": {}';

it('is registered for security.istio.io v1 and v1beta1', () => {
  const def = KINDS.find((k) => k.kind === 'PeerAuthentication');
  assert.deepEqual(
    [def?.group, def?.versions, def?.plural],
    ['security.istio.io', ['v1', 'v1beta1'], 'peerauthentications'],
  );
});

it('decodes both versions into the same model', () => {
  assert.deepEqual(spec('v1', body), spec('v1beta1', body));
});

it('portLevelModes gives numeric ports, UNSET where a port names no mode', () => {
  const modes = portLevelModes(spec('v1', body)!);
  assert.deepEqual(
    [...modes.entries()],
    [
      [8080, 'DISABLE'],
      [9090, 'UNSET'],
    ],
  );
  assert.equal(portLevelModes({}).size, 0);
});
