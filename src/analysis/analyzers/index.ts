/** The analyzers `mizzenctl analyze` runs, in one list. */
import type { Analyzer } from '../analyzer.ts';
import { Messages } from '../messages.ts';
import {
  caCertificatesAnalyzer,
  conflictingDestinationRulesAnalyzer,
  destinationRuleTargetAnalyzer,
} from './destination-rule.ts';
import { conflictingGatewaysAnalyzer } from './gateway.ts';
import { policySelectorAnalyzer, sidecarSelectorAnalyzer, telemetrySelectorAnalyzer } from './selectors.ts';
import { serviceEntryAddressesAnalyzer, serviceEntryProtocolAnalyzer } from './service-entry.ts';
import { sidecarEgressAnalyzer } from './sidecar.ts';
import {
  conflictingMeshHostsAnalyzer,
  destinationHostAnalyzer,
  destinationSubsetAnalyzer,
  gatewayAnalyzer,
  unreachableRulesAnalyzer,
} from './virtual-service.ts';

/**
 * Schema validation happens while the inputs are read (see input.ts); it is listed here so
 * that `--list-analyzers` shows everything that can report.
 */
export const schemaAnalyzer: Analyzer = {
  name: 'schema.ValidationAnalyzer',
  description:
    'Checks that every document is valid YAML/JSON and a valid Istio object (syntax, fields, values)',
  produces: [Messages.SchemaValidationError, Messages.SchemaWarning, Messages.DuplicateResource],
  analyze(): void {},
};

export const ALL_ANALYZERS: readonly Analyzer[] = [
  schemaAnalyzer,
  gatewayAnalyzer,
  destinationHostAnalyzer,
  destinationSubsetAnalyzer,
  conflictingMeshHostsAnalyzer,
  unreachableRulesAnalyzer,
  destinationRuleTargetAnalyzer,
  conflictingDestinationRulesAnalyzer,
  caCertificatesAnalyzer,
  conflictingGatewaysAnalyzer,
  policySelectorAnalyzer,
  sidecarSelectorAnalyzer,
  sidecarEgressAnalyzer,
  telemetrySelectorAnalyzer,
  serviceEntryAddressesAnalyzer,
  serviceEntryProtocolAnalyzer,
];
