import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALL_ANALYZERS } from '../../src/analysis/analyzers/index.ts';
import {
  ALL_MESSAGE_TYPES,
  documentationUrl,
  Messages,
  messageTypeByCode,
  parseLevel,
  reaches,
} from '../../src/analysis/messages.ts';

test('codes and names are unique, and codes are IST.... or MZN....', () => {
  const codes = ALL_MESSAGE_TYPES.map((t) => t.code);
  const names = ALL_MESSAGE_TYPES.map((t) => t.name);
  assert.equal(new Set(codes).size, codes.length);
  assert.equal(new Set(names).size, names.length);
  for (const [key, t] of Object.entries(Messages)) {
    assert.match(t.code, /^(IST|MZN)\d{4}$/);
    assert.equal(t.name, key);
  }
});

test("Istio's codes keep Istio's names and levels", () => {
  const istio: Record<string, [string, string]> = {
    IST0101: ['ReferencedResourceNotFound', 'Error'],
    IST0106: ['SchemaValidationError', 'Error'],
    IST0109: ['ConflictingMeshGatewayVirtualServiceHosts', 'Error'],
    IST0110: ['ConflictingSidecarWorkloadSelectors', 'Error'],
    IST0111: ['MultipleSidecarsWithoutWorkloadSelectors', 'Error'],
    IST0112: ['VirtualServiceDestinationPortSelectorRequired', 'Error'],
    IST0127: ['NoMatchingWorkloadsFound', 'Warning'],
    IST0128: ['NoServerCertificateVerificationDestinationLevel', 'Warning'],
    IST0129: ['NoServerCertificateVerificationPortLevel', 'Warning'],
    IST0130: ['VirtualServiceUnreachableRule', 'Warning'],
    IST0131: ['VirtualServiceIneffectiveMatch', 'Info'],
    IST0132: ['VirtualServiceHostNotFoundInGateway', 'Warning'],
    IST0133: ['SchemaWarning', 'Warning'],
    IST0134: ['ServiceEntryAddressesRequired', 'Warning'],
    IST0145: ['ConflictingGateways', 'Error'],
    IST0159: ['ConflictingTelemetryWorkloadSelectors', 'Error'],
    IST0160: ['MultipleTelemetriesWithoutWorkloadSelectors', 'Error'],
    IST0173: ['DestinationRuleSubsetNotSelectPods', 'Error'],
    IST0174: ['UnknownDestinationRuleHost', 'Warning'],
    IST0177: ['ConflictingServiceEntryProtocol', 'Warning'],
  };
  for (const t of ALL_MESSAGE_TYPES.filter((x) => x.code.startsWith('IST') && x.code !== 'IST0001')) {
    assert.deepEqual([t.name, t.level], istio[t.code], t.code);
  }
});

test('every message type is produced by some analyzer', () => {
  const produced = new Set(ALL_ANALYZERS.flatMap((a) => a.produces));
  for (const t of ALL_MESSAGE_TYPES) {
    if (t === Messages.InternalError) continue;
    assert.ok(produced.has(t), `${t.code} ${t.name} is reported by no analyzer`);
  }
  assert.ok(ALL_ANALYZERS.length >= 12);
  assert.equal(new Set(ALL_ANALYZERS.map((a) => a.name)).size, ALL_ANALYZERS.length);
});

test('levels parse case-insensitively and compare by severity', () => {
  assert.equal(parseLevel('error'), 'Error');
  assert.equal(parseLevel('WARNING'), 'Warning');
  assert.equal(parseLevel('Info'), 'Info');
  assert.equal(parseLevel('warn'), undefined);
  assert.ok(reaches('Error', 'Warning'));
  assert.ok(reaches('Warning', 'Warning'));
  assert.ok(!reaches('Info', 'Warning'));
  assert.ok(reaches('Info', 'Info'));
});

test("documentation links go to Istio's page for IST codes only", () => {
  assert.equal(
    documentationUrl(Messages.ReferencedResourceNotFound),
    'https://istio.io/latest/docs/reference/config/analysis/ist0101/?ref=mizzenctl-analyze',
  );
  assert.equal(documentationUrl(Messages.ConflictingDestinationRulesHost), undefined);
  assert.equal(messageTypeByCode('ist0101'), Messages.ReferencedResourceNotFound);
  assert.equal(messageTypeByCode('IST9999'), undefined);
});
