/**
 * Capture rule generation, pure: golden iptables-restore input (`--dry-run` output) for Istio's
 * default options and for every include/exclude option, option validation, annotations, and
 * the clean/replace inputs computed from iptables-save output.
 *
 * Goldens live in testdata/iptables/<case>.golden; regenerate with
 * MIZZEN_REFRESH_GOLDEN=1 node_modules/.bin/node --test test/agent/iptables.test.ts
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  buildCaptureRules,
  buildCleanRules,
  buildReplaceRules,
  CAPTURE_ANNOTATIONS,
  captureSettingsFromAnnotations,
  resolveCaptureOptions,
} from '../../src/agent/iptables.ts';
import { runIptablesCommand } from '../../src/agent/iptables-cli.ts';
import { MizzenError } from '../../src/lib/errors.ts';

const GOLDEN = join(import.meta.dirname, 'testdata', 'iptables');
const REFRESH = process.env.MIZZEN_REFRESH_GOLDEN === '1';

async function dryRun(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runIptablesCommand(['--dry-run', ...args], {
    stdout: (t) => (out += t),
    stderr: (t) => (err += t),
    env,
    exec: () => Promise.reject(new Error('a dry run must not run commands')),
  });
  return { code, out, err };
}

function checkGolden(name: string, actual: string): void {
  const file = join(GOLDEN, `${name}.golden`);
  if (REFRESH || !existsSync(file)) {
    if (!REFRESH) assert.fail(`missing golden ${file}; create it with MIZZEN_REFRESH_GOLDEN=1`);
    writeFileSync(file, actual);
    return;
  }
  assert.equal(
    actual,
    readFileSync(file, 'utf8'),
    `${name}.golden differs; if the change is intended: MIZZEN_REFRESH_GOLDEN=1 node_modules/.bin/node --test test/agent/iptables.test.ts`,
  );
}

/** Golden case name → istio-iptables arguments. */
const CASES: Record<string, string[]> = {
  default: [],
  'inbound-ports-include': ['-b', '8080,9090'],
  'inbound-ports-none': ['-b', ''],
  'inbound-ports-exclude': ['-d', '9000, 7070'],
  'outbound-cidr-include': ['-i', '10.96.0.0/12,FD00:10:96::/112'],
  'outbound-cidr-none': ['-i', ''],
  'outbound-cidr-exclude': ['-x', '10.0.0.0/8,169.254.169.254/32,fd00::/8'],
  'outbound-cidr-include-loopback': ['-i', '127.0.0.1/32,10.96.0.0/12'],
  'outbound-ports-include': ['-i', '', '-q', '9000,9100:9200'],
  'outbound-ports-exclude': ['-o', '443,8443'],
  'proxy-uid-gid': ['-u', '1337,1338', '-g', '0'],
  'capture-ports': ['-p', '16001', '-z', '16006', '-e', '16008'],
  'exclude-interfaces': ['-c', 'eth1,tun0'],
  everything: [
    '-p',
    '15001',
    '-z',
    '15006',
    '-u',
    '1337',
    '-g',
    '1337',
    '-m',
    'REDIRECT',
    '-b',
    '8080,8443',
    '-i',
    '10.96.0.0/12,fd00:10:96::/112',
    '-x',
    '10.96.0.1/32',
    '-q',
    '3306',
    '-o',
    '25',
    '-c',
    'eth9',
  ],
};

describe('golden iptables-restore input', () => {
  for (const [name, args] of Object.entries(CASES)) {
    test(`${name}: ${args.join(' ') || '(no flags)'}`, async () => {
      const r = await dryRun(args);
      assert.equal(r.err, '');
      assert.equal(r.code, 0);
      checkGolden(name, r.out);
    });
  }

  test("Istio's injector arguments give the default rules", async () => {
    const injected = [
      '-p',
      '15001',
      '-z',
      '15006',
      '-u',
      '1337',
      '-m',
      'REDIRECT',
      '-i',
      '*',
      '-x',
      '',
      '-b',
      '*',
    ];
    const a = await dryRun([...injected, '-d', '15090,15021,15020']);
    const b = await dryRun([]);
    assert.equal(a.code, 0);
    assert.equal(a.out, b.out);
  });

  test("Istio's environment variables are flag defaults, and flags win", async () => {
    const env = { ISTIO_INBOUND_PORTS: '8080,9090', ISTIO_SERVICE_CIDR: '', ENVOY_PORT: '16001' };
    const fromEnv = await dryRun([], env);
    assert.match(fromEnv.out, /-A ISTIO_INBOUND -p tcp --dport 9090 -j ISTIO_IN_REDIRECT/);
    assert.match(fromEnv.out, /--to-ports 16001/);
    assert.doesNotMatch(fromEnv.out, /-A ISTIO_OUTPUT -j ISTIO_REDIRECT/);
    const overridden = await dryRun(['-b', '*', '-p', '15001', '-i', '*'], env);
    assert.equal(overridden.out, (await dryRun([])).out);
  });

  test('--ipv6=false leaves the IPv6 rules out of the dry run', async () => {
    const r = await dryRun(['--ipv6', 'false']);
    assert.match(r.out, /^# iptables-restore --noflush\n\*nat\n/);
    assert.doesNotMatch(r.out, /ip6tables|::1/);
  });

  test('an always-excluded port in an include list is dropped with a warning', async () => {
    const r = await dryRun(['-b', '8080,15021,15008']);
    assert.equal(r.code, 0);
    assert.equal(
      r.err,
      "mizzen-proxy iptables: warning: istio-inbound-ports (-b): port 15021 is the proxy's own; not captured\n" +
        "mizzen-proxy iptables: warning: istio-inbound-ports (-b): port 15008 is the proxy's own; not captured\n",
    );
    assert.equal(r.out, (await dryRun(['-b', '8080'])).out);
  });
});

describe('option validation', () => {
  test('every problem is reported at once, each naming its flag', async () => {
    const r = await dryRun([
      '-p',
      '0',
      '-z',
      'x',
      '-u',
      'proxy',
      '-b',
      '80,70000,5:3',
      '-i',
      '10.0.0.0/33,bogus',
      '-x',
      '*',
      '-c',
      'way-too-long-interface',
    ]);
    assert.equal(r.code, 64);
    assert.equal(r.out, '');
    assert.equal(
      r.err,
      [
        'mizzen-proxy iptables: invalid capture options:',
        '  envoy-port (-p): "0" is not a port (1-65535)',
        '  inbound-capture-port (-z): "x" is not a port (1-65535)',
        '  proxy-uid (-u): "proxy" is not a numeric id',
        '  proxy-gid (-g): "proxy" is not a numeric id',
        '  istio-inbound-ports (-b): "70000" is not a port (1-65535) or a port range (low:high)',
        '  istio-inbound-ports (-b): "5:3" is not a port (1-65535) or a port range (low:high)',
        '  istio-service-cidr (-i): "10.0.0.0/33" is not a CIDR (for example 10.0.0.0/8 or fd00::/8)',
        '  istio-service-cidr (-i): "bogus" is not a CIDR (for example 10.0.0.0/8 or fd00::/8)',
        '  istio-service-exclude-cidr (-x): "*" is not allowed here; list CIDRs to exclude',
        '  istio-exclude-interfaces (-c): "way-too-long-interface" is not an interface name',
        '',
      ].join('\n'),
    );
  });

  test('TPROXY, DNS capture and KubeVirt interfaces are refused, not ignored', async () => {
    const cases: [string[], RegExp][] = [
      [['-m', 'TPROXY'], /-m\): TPROXY is not supported; use REDIRECT/],
      [['-t', '1337'], /-t: TPROXY \(-t\) is not supported/],
      [['--redirect-dns'], /--redirect-dns: DNS capture is not supported/],
      [['--capture-all-dns'], /--capture-all-dns: DNS capture is not supported/],
      [['-k', 'eth0'], /-k: KubeVirt interfaces \(-k\) are not supported/],
      [['--kube-virt-interfaces=eth0'], /--kube-virt-interfaces: KubeVirt interfaces are not supported/],
    ];
    for (const [args, message] of cases) {
      const r = await dryRun(args);
      assert.equal(r.code, 64, args.join(' '));
      assert.match(r.err, message);
    }
  });

  test('unknown options, stray arguments and bad --ipv6 are usage errors', async () => {
    for (const args of [['--frobnicate'], ['install'], ['clean', 'extra'], ['--ipv6', 'maybe']]) {
      const r = await dryRun(args);
      assert.equal(r.code, 64, args.join(' '));
      assert.match(r.err, /^mizzen-proxy iptables: .+\nRun 'mizzen-proxy iptables --help' for usage\.\n$/);
    }
  });

  test('--help prints the usage', async () => {
    let out = '';
    const code = await runIptablesCommand(['--help'], {
      stdout: (t) => (out += t),
      stderr: () => {},
      env: {},
    });
    assert.equal(code, 0);
    assert.match(out, /^Usage: mizzen-proxy iptables \[clean\]/);
    assert.match(out, /-o, --istio-local-outbound-ports-exclude PORTS/);
  });

  test('resolveCaptureOptions throws a MizzenError with the invalid-argument code', () => {
    assert.throws(
      () => resolveCaptureOptions({ envoyPort: '99999' }),
      (err: unknown) => {
        assert.ok(err instanceof MizzenError);
        assert.equal(err.code, 'MZ_ERR_INVALID_ARGUMENT');
        return true;
      },
    );
  });
});

describe('annotations', () => {
  test('map to the same rules as the equivalent flags', async () => {
    const a = CAPTURE_ANNOTATIONS;
    const settings = captureSettingsFromAnnotations({
      [a.includeInboundPorts]: '8080,8443',
      [a.excludeOutboundIPRanges]: '10.96.0.1/32',
      [a.includeOutboundIPRanges]: '10.96.0.0/12,fd00:10:96::/112',
      [a.includeOutboundPorts]: '3306',
      [a.excludeOutboundPorts]: '25',
      [a.excludeInterfaces]: 'eth9',
      [a.interceptionMode]: 'REDIRECT',
      'unrelated.example.com/annotation': 'x',
    });
    const fromAnnotations = buildCaptureRules(resolveCaptureOptions(settings).options);
    const viaCli = await dryRun(CASES.everything);
    assert.equal(
      viaCli.out,
      `# iptables-restore --noflush\n${fromAnnotations.ipv4}# ip6tables-restore --noflush\n${fromAnnotations.ipv6}`,
    );
  });

  test('no annotations: capture everything, as the injector does', () => {
    assert.deepEqual(
      buildCaptureRules(resolveCaptureOptions(captureSettingsFromAnnotations({})).options),
      buildCaptureRules(resolveCaptureOptions({}).options),
    );
  });

  test('the status port and excludeInboundPorts are excluded from inbound capture', () => {
    const a = CAPTURE_ANNOTATIONS;
    const settings = captureSettingsFromAnnotations({
      [a.statusPort]: '15999',
      [a.excludeInboundPorts]: '7070',
    });
    assert.deepEqual(resolveCaptureOptions(settings).options.inboundPortsExclude, [
      '15090',
      '15021',
      '15020',
      '15999',
      '7070',
    ]);
  });

  test('unsupported annotations are refused, naming the annotation', () => {
    const a = CAPTURE_ANNOTATIONS;
    assert.throws(
      () => captureSettingsFromAnnotations({ [a.interceptionMode]: 'TPROXY' }),
      /sidecar\.istio\.io\/interceptionMode: "TPROXY" is not supported; only REDIRECT is/,
    );
    assert.throws(
      () => captureSettingsFromAnnotations({ [a.kubevirtInterfaces]: 'net1' }),
      /traffic\.sidecar\.istio\.io\/kubevirtInterfaces is not supported/,
    );
  });
});

/** iptables-save output of a namespace with our capture plus someone else's rules. */
const SAVED = `# Generated by iptables-save v1.8.9 (nf_tables) on Wed Nov 25 11:33:36 2026
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:OTHER - [0:0]
:ISTIO_INBOUND - [0:0]
:ISTIO_IN_REDIRECT - [0:0]
:ISTIO_OUTPUT - [0:0]
:ISTIO_REDIRECT - [0:0]
-A PREROUTING -j OTHER
-A PREROUTING -p tcp -j ISTIO_INBOUND
-A OUTPUT -p tcp -j ISTIO_OUTPUT
-A POSTROUTING -o eth0 -j MASQUERADE
-A OTHER -p tcp -m tcp --dport 9 -j RETURN
-A ISTIO_INBOUND -p tcp -m tcp --dport 15008 -j RETURN
-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
-A ISTIO_OUTPUT -j ISTIO_REDIRECT
-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
COMMIT
# Completed on Wed Nov 25 11:33:36 2026
*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp -j ISTIO_LOOKALIKE_IN_ANOTHER_TABLE
COMMIT
`;

describe('clean and replace input', () => {
  test('clean deletes only the jumps into our chains, then our chains', () => {
    assert.equal(
      buildCleanRules(SAVED),
      [
        '*nat',
        '-D PREROUTING -p tcp -j ISTIO_INBOUND',
        '-D OUTPUT -p tcp -j ISTIO_OUTPUT',
        '-F ISTIO_INBOUND',
        '-F ISTIO_REDIRECT',
        '-F ISTIO_IN_REDIRECT',
        '-F ISTIO_OUTPUT',
        '-X ISTIO_INBOUND',
        '-X ISTIO_REDIRECT',
        '-X ISTIO_IN_REDIRECT',
        '-X ISTIO_OUTPUT',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  test('clean of a namespace without capture is empty', () => {
    assert.equal(buildCleanRules('*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j OTHER\nCOMMIT\n'), '');
    assert.equal(buildCleanRules(''), '');
  });

  test('replace removes the old jumps and flushes our chains in the same transaction', () => {
    const rules = buildCaptureRules(resolveCaptureOptions({}).options).ipv4;
    const replaced = buildReplaceRules(rules, SAVED).split('\n');
    const firstRule = replaced.findIndex((l) => l.startsWith('-A '));
    assert.deepEqual(replaced.slice(firstRule - 6, firstRule), [
      '-D PREROUTING -p tcp -j ISTIO_INBOUND',
      '-D OUTPUT -p tcp -j ISTIO_OUTPUT',
      '-F ISTIO_INBOUND',
      '-F ISTIO_REDIRECT',
      '-F ISTIO_IN_REDIRECT',
      '-F ISTIO_OUTPUT',
    ]);
    assert.deepEqual(replaced.slice(0, firstRule - 6), rules.split('\n').slice(0, 5));
    assert.equal(buildReplaceRules(rules, '*nat\nCOMMIT\n'), rules);
  });
});
