import assert from 'node:assert/strict';
import { test } from 'node:test';
import { conflictingGatewaysAnalyzer } from '../../../src/analysis/analyzers/gateway.ts';
import { run } from '../helpers.ts';

function gateway(name: string, namespace: string, selector: string, servers: string): string {
  return `
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata:
      name: ${name}
      namespace: ${namespace}
    spec:
      selector: ${selector}
      servers:
${servers}
  `;
}

test('conflicting gateways: same selector and port with overlapping hosts is IST0145 on both', () => {
  const lines = run(
    {
      'alpha.yaml': gateway(
        'alpha',
        'default',
        '{istio: ingressgateway}',
        `
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: [foo.example.com]`,
      ),
      'beta.yaml': gateway(
        'beta',
        'other',
        '{istio: ingressgateway}',
        `
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["*.example.com"]`,
      ),
    },
    [conflictingGatewaysAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0145] (Gateway default/alpha alpha.yaml:11) Server host "foo.example.com" on port 80 (workload selector istio=ingressgateway) overlaps with Gateway other/beta (hosts *.example.com, foo.example.com); only one server gets the traffic.',
    'Error [IST0145] (Gateway other/beta beta.yaml:11) Server host "*.example.com" on port 80 (workload selector istio=ingressgateway) overlaps with Gateway default/alpha (hosts *.example.com, foo.example.com); only one server gets the traffic.',
  ]);
});

test('conflicting gateways: two servers of one Gateway on the same port and host conflict too', () => {
  const lines = run(
    gateway(
      'gw',
      'default',
      '{istio: ingressgateway}',
      `
      - port: {number: 443, name: https-a, protocol: HTTPS}
        hosts: [shop.example.com]
        tls: {mode: SIMPLE, credentialName: shop-a}
      - port: {number: 443, name: https-b, protocol: HTTPS}
        hosts: [ops/shop.example.com]
        tls: {mode: SIMPLE, credentialName: shop-b}`,
    ),
    [conflictingGatewaysAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0145] (Gateway default/gw config.yaml:11) Server host "shop.example.com" on port 443 (workload selector istio=ingressgateway) overlaps with servers[1] of the same Gateway (hosts shop.example.com); only one server gets the traffic.',
    'Error [IST0145] (Gateway default/gw config.yaml:14) Server host "shop.example.com" on port 443 (workload selector istio=ingressgateway) overlaps with servers[0] of the same Gateway (hosts shop.example.com); only one server gets the traffic.',
  ]);
});

test('conflicting gateways: other ports, other selectors and disjoint hosts do not conflict', () => {
  const lines = run(
    {
      'a.yaml': gateway(
        'a',
        'default',
        '{istio: ingressgateway}',
        `
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: [a.example.com, "*.a.example.com"]
      - port: {number: 443, name: https, protocol: HTTPS}
        hosts: [b.example.com]
        tls: {mode: SIMPLE, credentialName: b}`,
      ),
      'b.yaml': gateway(
        'b',
        'default',
        '{istio: ingressgateway}',
        `
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: [b.example.com, "*.b.example.com"]`,
      ),
      'c.yaml': gateway(
        'c',
        'default',
        '{istio: egressgateway}',
        `
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: [a.example.com]`,
      ),
    },
    [conflictingGatewaysAnalyzer],
  );
  assert.deepEqual(lines, []);
});

test('conflicting gateways: the catch-all host "*" overlaps every host on its port', () => {
  const lines = run(
    {
      'a.yaml': gateway(
        'a',
        'default',
        '{istio: ingressgateway}',
        `
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["*"]`,
      ),
      'b.yaml': gateway(
        'b',
        'default',
        '{istio: ingressgateway}',
        `
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["*.example.com", bookinfo.local]`,
      ),
    },
    [conflictingGatewaysAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0145] (Gateway default/a a.yaml:11) Server host "*" on port 80 (workload selector istio=ingressgateway) overlaps with Gateway default/b (hosts *, *.example.com, bookinfo.local); only one server gets the traffic.',
    'Error [IST0145] (Gateway default/b b.yaml:11) Server host "*.example.com" on port 80 (workload selector istio=ingressgateway) overlaps with Gateway default/a (hosts *, *.example.com); only one server gets the traffic.',
    'Error [IST0145] (Gateway default/b b.yaml:11) Server host "bookinfo.local" on port 80 (workload selector istio=ingressgateway) overlaps with Gateway default/a (hosts *, bookinfo.local); only one server gets the traffic.',
  ]);
});
