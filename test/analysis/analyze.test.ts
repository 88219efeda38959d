import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { analyze } from '../../src/analysis/analyze.ts';
import type { Analyzer } from '../../src/analysis/analyzer.ts';
import { messageLine } from '../../src/analysis/diagnostic.ts';
import { AnalysisInput } from '../../src/analysis/input.ts';
import { Messages } from '../../src/analysis/messages.ts';
import { parseSuppression } from '../../src/analysis/suppression.ts';
import { inputOf } from './helpers.ts';

const typo = `
  apiVersion: networking.istio.io/v1
  kind: VirtualService
  metadata:
    name: reviews
    namespace: shop
  spec:
    hosts: [reviews]
    http:
    - route:
      - destination: {host: reviewz}
`;

test('all analyzers run by default and report with the line of the offending field', () => {
  const result = analyze(inputOf({ 'reviews.yaml': typo }));
  assert.deepEqual(result.messages.map(messageLine), [
    'Error [IST0101] (VirtualService shop/reviews reviews.yaml:10) Referenced host not found: "reviewz"',
  ]);
  assert.ok(result.executed.includes('virtualservice.DestinationHostAnalyzer'));
});

test('suppressions take istioctl\'s "CODE=Kind name.namespace" and the namespace/name form, with *', () => {
  const input = inputOf({ 'reviews.yaml': typo });
  for (const s of [
    'IST0101=VirtualService reviews.shop',
    'IST0101=VirtualService shop/reviews',
    'ist0101=VirtualService *',
  ]) {
    const parsed = parseSuppression(s);
    assert.equal(typeof parsed, 'object', s);
    assert.deepEqual(analyze(input, { suppressions: [parsed as never] }).messages, [], s);
  }
  const other = parseSuppression('IST0101=VirtualService other.shop');
  assert.equal(analyze(input, { suppressions: [other as never] }).messages.length, 1);
  assert.match(parseSuppression('IST0101') as string, /not a valid suppression/);
  assert.match(parseSuppression('=x') as string, /not a valid suppression/);
});

test('an analyzer that throws is an IST0001 message; the others still run', () => {
  const broken: Analyzer = {
    name: 'test.BrokenAnalyzer',
    description: 'throws',
    produces: [],
    analyze() {
      throw new Error('boom');
    },
  };
  const fine: Analyzer = {
    name: 'test.FineAnalyzer',
    description: 'reports',
    produces: [Messages.SchemaWarning],
    analyze(ctx) {
      ctx.report(Messages.SchemaWarning, ctx.resources('VirtualService')[0], 'found', ['spec', 'hosts']);
    },
  };
  const result = analyze(inputOf({ 'reviews.yaml': typo }), { analyzers: [broken, fine] });
  assert.deepEqual(result.messages.map(messageLine), [
    'Error [IST0001] Internal error: analyzer test.BrokenAnalyzer failed: boom',
    'Warning [IST0133] (VirtualService shop/reviews reviews.yaml:7) found',
  ]);
  assert.deepEqual(result.executed, ['test.BrokenAnalyzer', 'test.FineAnalyzer']);
});

test('the root namespace decides where selectors look for workloads', () => {
  const files = {
    'p.yaml': `
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata:
        name: deny-admin
        namespace: mesh-root
      spec:
        selector: {matchLabels: {app: web}}
        action: DENY
        rules: [{to: [{operation: {paths: [/admin]}}]}]
      ---
      apiVersion: networking.istio.io/v1
      kind: WorkloadEntry
      metadata:
        name: web
        namespace: front
      spec:
        address: 127.0.0.1
        labels: {app: web}
    `,
  };
  const codes = (root?: string) =>
    analyze(inputOf(files), { rootNamespace: root })
      .messages.filter((m) => m.type !== Messages.SchemaWarning)
      .map((m) => m.type.code);
  assert.deepEqual(codes(), ['IST0127']);
  assert.deepEqual(codes('mesh-root'), []);
});

test('the bookinfo example has nothing to report', () => {
  const dir = join(import.meta.dirname, '../../examples/bookinfo');
  const sources = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => ({ name: f, text: readFileSync(join(dir, f), 'utf8') }));
  const input = AnalysisInput.fromTexts(sources, { defaultNamespace: 'default' });
  assert.ok(input.resources.length >= 25);
  assert.deepEqual(analyze(input).messages.map(messageLine), []);
});
