/**
 * The message catalog: every kind of message `mizzenctl analyze` can print, with its code,
 * name and level. Codes and levels are Istio's where Istio has the same message (IST....),
 * so that scripts and suppressions written for `istioctl analyze` keep working; messages
 * Istio does not have use Mizzen's own MZN.... codes. A code never changes meaning.
 *
 */

export type Level = 'Error' | 'Warning' | 'Info';

/** Most severe first: the order messages are sorted in and thresholds compare by. */
export const LEVELS: readonly Level[] = ['Error', 'Warning', 'Info'];

export function levelRank(level: Level): number {
  return LEVELS.indexOf(level);
}

/** True when `level` is at least as severe as `threshold`. */
export function reaches(level: Level, threshold: Level): boolean {
  return levelRank(level) <= levelRank(threshold);
}

/** Parses a level the way istioctl does: case-insensitive Info, Warning or Error. */
export function parseLevel(text: string): Level | undefined {
  return LEVELS.find((l) => l.toLowerCase() === text.toLowerCase());
}

export interface MessageType {
  readonly code: string;
  readonly name: string;
  readonly level: Level;
  readonly description: string;
}

const ISTIO_DOCS = 'https://istio.io/latest/docs/reference/config/analysis';

/** Istio's page for an IST code; Mizzen's own codes are described in src/analysis/README.md. */
export function documentationUrl(type: MessageType): string | undefined {
  return type.code.startsWith('IST')
    ? `${ISTIO_DOCS}/${type.code.toLowerCase()}/?ref=mizzenctl-analyze`
    : undefined;
}

function type(code: string, name: string, level: Level, description: string): MessageType {
  return { code, name, level, description };
}

/** Quotes a value as Go's %q does for the ASCII cases our values contain. */
export function quote(value: string): string {
  return JSON.stringify(value);
}

/**
 * IST0101's text, in Istio's exact form (`Referenced gateway not found: "x"`), which scripts
 * match on.
 */
export function referencedNotFound(what: string, value: string): string {
  return `Referenced ${what} not found: ${quote(value)}`;
}

/** Message types by name. */
export const Messages = {
  InternalError: type('IST0001', 'InternalError', 'Error', 'An analyzer failed; this is a bug in Mizzen.'),
  ReferencedResourceNotFound: type(
    'IST0101',
    'ReferencedResourceNotFound',
    'Error',
    'A resource refers to another resource that does not exist.',
  ),
  SchemaValidationError: type(
    'IST0106',
    'SchemaValidationError',
    'Error',
    'A document is not valid YAML/JSON or not a valid Istio object.',
  ),
  ConflictingMeshGatewayVirtualServiceHosts: type(
    'IST0109',
    'ConflictingMeshGatewayVirtualServiceHosts',
    'Error',
    'Several VirtualServices bound to the mesh gateway define the same host.',
  ),
  ConflictingSidecarWorkloadSelectors: type(
    'IST0110',
    'ConflictingSidecarWorkloadSelectors',
    'Error',
    'Several Sidecars select the same workload.',
  ),
  MultipleSidecarsWithoutWorkloadSelectors: type(
    'IST0111',
    'MultipleSidecarsWithoutWorkloadSelectors',
    'Error',
    'More than one Sidecar in a namespace has no workload selector.',
  ),
  VirtualServiceDestinationPortSelectorRequired: type(
    'IST0112',
    'VirtualServiceDestinationPortSelectorRequired',
    'Error',
    'A route goes to a service with several ports without saying which one.',
  ),
  NoMatchingWorkloadsFound: type(
    'IST0127',
    'NoMatchingWorkloadsFound',
    'Warning',
    'A policy selector matches no workload.',
  ),
  NoServerCertificateVerificationDestinationLevel: type(
    'IST0128',
    'NoServerCertificateVerificationDestinationLevel',
    'Warning',
    'A DestinationRule originates TLS without caCertificates, so the server certificate is not verified.',
  ),
  NoServerCertificateVerificationPortLevel: type(
    'IST0129',
    'NoServerCertificateVerificationPortLevel',
    'Warning',
    'A port of a DestinationRule originates TLS without caCertificates, so the server certificate is not verified.',
  ),
  VirtualServiceUnreachableRule: type(
    'IST0130',
    'VirtualServiceUnreachableRule',
    'Warning',
    'A route can never be used because earlier routes catch all its traffic.',
  ),
  VirtualServiceIneffectiveMatch: type(
    'IST0131',
    'VirtualServiceIneffectiveMatch',
    'Info',
    'A match of a route repeats a match of an earlier route and is never used.',
  ),
  VirtualServiceHostNotFoundInGateway: type(
    'IST0132',
    'VirtualServiceHostNotFoundInGateway',
    'Warning',
    'A VirtualService host is not served by a Gateway the VirtualService is bound to.',
  ),
  SchemaWarning: type(
    'IST0133',
    'SchemaWarning',
    'Warning',
    'A document is valid but uses something deprecated or questionable.',
  ),
  ServiceEntryAddressesRequired: type(
    'IST0134',
    'ServiceEntryAddressesRequired',
    'Warning',
    'A ServiceEntry with TCP (or unnamed protocol) ports has no addresses.',
  ),
  ConflictingGateways: type(
    'IST0145',
    'ConflictingGateways',
    'Error',
    'Gateway servers on the same workloads and port have overlapping hosts.',
  ),
  ConflictingTelemetryWorkloadSelectors: type(
    'IST0159',
    'ConflictingTelemetryWorkloadSelectors',
    'Error',
    'Several Telemetry resources select the same workload.',
  ),
  MultipleTelemetriesWithoutWorkloadSelectors: type(
    'IST0160',
    'MultipleTelemetriesWithoutWorkloadSelectors',
    'Error',
    'More than one Telemetry in a namespace has no workload selector.',
  ),
  DestinationRuleSubsetNotSelectPods: type(
    'IST0173',
    'DestinationRuleSubsetNotSelectPods',
    'Error',
    'A DestinationRule subset selects none of the workloads of its service.',
  ),
  UnknownDestinationRuleHost: type(
    'IST0174',
    'UnknownDestinationRuleHost',
    'Warning',
    'The host of a DestinationRule matches no service.',
  ),
  ConflictingServiceEntryProtocol: type(
    'IST0177',
    'ConflictingServiceEntryProtocol',
    'Warning',
    'ServiceEntries define the same host and port with different protocols.',
  ),
  ConflictingDestinationRulesHost: type(
    'MZN0001',
    'ConflictingDestinationRulesHost',
    'Warning',
    'DestinationRules of one namespace for the same host define the same subset or both a traffic policy; Istio merges them and ignores one.',
  ),
  DuplicateResource: type(
    'MZN0002',
    'DuplicateResource',
    'Warning',
    'The same object (kind, namespace, name) is defined more than once in the inputs; the last definition is used.',
  ),
} as const satisfies Record<string, MessageType>;

export type MessageName = keyof typeof Messages;

export const ALL_MESSAGE_TYPES: readonly MessageType[] = Object.values(Messages);

const byCode = new Map(ALL_MESSAGE_TYPES.map((t) => [t.code, t]));

export function messageTypeByCode(code: string): MessageType | undefined {
  return byCode.get(code.toUpperCase());
}
