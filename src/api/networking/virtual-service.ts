/**
 * VirtualService (networking.istio.io v1, v1beta1, v1alpha3): the schema of every field Istio
 * documents, and the kind's entry for the kinds table. Istio serves one schema for all three
 * versions, so there is one model. Semantic rules live in validate-virtual-service.ts.
 */

import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_NETWORKING, NETWORKING_VERSIONS } from '../schema/groups.ts';
import { defineKind } from '../schema/kind.ts';
import { destination, headers, stringMatch } from './shared.ts';
import { validateVirtualService } from './validate-virtual-service.ts';

/** istio.networking.v1.Percent */
export const percent = t.object('Percent', { value: t.double() });

/** istio.networking.v1.HTTPMatchRequest */
export const httpMatchRequest = t.object('HTTPMatchRequest', {
  name: t.string(),
  uri: stringMatch,
  scheme: stringMatch,
  method: stringMatch,
  authority: stringMatch,
  headers: t.map(stringMatch),
  port: t.uint32(),
  sourceLabels: t.map(t.string()),
  gateways: t.array(t.string()),
  queryParams: t.map(stringMatch),
  ignoreUriCase: t.bool(),
  withoutHeaders: t.map(stringMatch),
  sourceNamespace: t.string(),
  statPrefix: t.string(),
});
export type HTTPMatchRequest = Infer<typeof httpMatchRequest>;

/** istio.networking.v1.HTTPRouteDestination */
export const httpRouteDestination = t.object('HTTPRouteDestination', {
  destination: destination.required(),
  weight: t.int32(),
  headers,
});
export type HTTPRouteDestination = Infer<typeof httpRouteDestination>;

/** istio.networking.v1.RouteDestination (TCP and TLS routes) */
export const routeDestination = t.object('RouteDestination', {
  destination: destination.required(),
  weight: t.int32(),
});
export type RouteDestination = Infer<typeof routeDestination>;

/** istio.networking.v1.HTTPRedirect */
export const httpRedirect = t.object(
  'HTTPRedirect',
  {
    uri: t.string(),
    authority: t.string(),
    port: t.uint32(),
    derivePort: t.enum(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']),
    scheme: t.string(),
    redirectCode: t.uint32(),
  },
  { oneOf: [['port', 'derivePort']] },
);
export type HTTPRedirect = Infer<typeof httpRedirect>;

/** istio.networking.v1.HTTPDirectResponse */
export const httpDirectResponse = t.object('HTTPDirectResponse', {
  status: t.uint32().required(),
  body: t.object('HTTPBody', { string: t.string(), bytes: t.string() }, { oneOf: [['string', 'bytes']] }),
});
export type HTTPDirectResponse = Infer<typeof httpDirectResponse>;

/** istio.networking.v1.Delegate */
export const delegate = t.object('Delegate', {
  name: t.string(),
  namespace: t.string(),
});

/** istio.networking.v1.HTTPRewrite */
export const httpRewrite = t.object('HTTPRewrite', {
  uri: t.string(),
  authority: t.string(),
  uriRegexRewrite: t.object('RegexRewrite', { match: t.string(), rewrite: t.string() }),
});
export type HTTPRewrite = Infer<typeof httpRewrite>;

/** istio.networking.v1.HTTPRetry */
export const httpRetry = t.object('HTTPRetry', {
  attempts: t.int32(),
  perTryTimeout: t.duration(),
  retryOn: t.string(),
  retryRemoteLocalities: t.bool(),
  retryIgnorePreviousHosts: t.bool(),
  backoff: t.duration(),
});
export type HTTPRetry = Infer<typeof httpRetry>;

/** istio.networking.v1.CorsPolicy */
export const corsPolicy = t.object('CorsPolicy', {
  allowOrigin: t.array(t.string()).deprecated('use allowOrigins (exact, prefix or regex matches) instead'),
  allowOrigins: t.array(stringMatch),
  allowMethods: t.array(t.string()),
  allowHeaders: t.array(t.string()),
  exposeHeaders: t.array(t.string()),
  maxAge: t.duration(),
  allowCredentials: t.bool(),
  unmatchedPreflights: t.enum(['UNSPECIFIED', 'FORWARD', 'IGNORE']),
});
export type CorsPolicy = Infer<typeof corsPolicy>;

/** istio.networking.v1.HTTPFaultInjection */
export const httpFaultInjection = t.object('HTTPFaultInjection', {
  delay: t.object(
    'HTTPFaultInjection.Delay',
    {
      fixedDelay: t.duration(),
      exponentialDelay: t.duration(),
      percentage: percent,
      percent: t.int32().deprecated('use percentage (a fraction such as 0.1 is allowed) instead'),
    },
    { oneOf: [['fixedDelay', 'exponentialDelay']] },
  ),
  abort: t.object(
    'HTTPFaultInjection.Abort',
    {
      httpStatus: t.int32(),
      grpcStatus: t.string(),
      http2Error: t.string(),
      percentage: percent,
    },
    { oneOf: [['httpStatus', 'grpcStatus', 'http2Error']] },
  ),
});
export type HTTPFaultInjection = Infer<typeof httpFaultInjection>;

/** istio.networking.v1.HTTPMirrorPolicy */
export const httpMirrorPolicy = t.object('HTTPMirrorPolicy', {
  destination: destination.required(),
  percentage: percent,
});

/** istio.networking.v1.HTTPRoute */
export const httpRoute = t.object(
  'HTTPRoute',
  {
    name: t.string(),
    match: t.array(httpMatchRequest),
    route: t.array(httpRouteDestination),
    redirect: httpRedirect,
    directResponse: httpDirectResponse,
    delegate,
    rewrite: httpRewrite,
    timeout: t.duration(),
    retries: httpRetry,
    fault: httpFaultInjection,
    mirror: destination,
    mirrors: t.array(httpMirrorPolicy),
    // The CRD accepts the deprecated field under both its JSON name and its proto name.
    mirrorPercent: t.uint32().deprecated('use mirrorPercentage instead'),
    mirror_percent: t.uint32().deprecated('use mirrorPercentage instead'),
    mirrorPercentage: percent,
    corsPolicy,
    headers,
  },
  { oneOf: [['mirrorPercent', 'mirror_percent']] },
);
export type HTTPRoute = Infer<typeof httpRoute>;

/** istio.networking.v1.L4MatchAttributes */
export const l4MatchAttributes = t.object('L4MatchAttributes', {
  destinationSubnets: t.array(t.string()),
  port: t.uint32(),
  sourceSubnet: t.string(),
  sourceLabels: t.map(t.string()),
  gateways: t.array(t.string()),
  sourceNamespace: t.string(),
});
export type L4MatchAttributes = Infer<typeof l4MatchAttributes>;

/** istio.networking.v1.TLSMatchAttributes */
export const tlsMatchAttributes = t.object('TLSMatchAttributes', {
  sniHosts: t.array(t.string()).required(),
  destinationSubnets: t.array(t.string()),
  port: t.uint32(),
  sourceLabels: t.map(t.string()),
  gateways: t.array(t.string()),
  sourceNamespace: t.string(),
});
export type TLSMatchAttributes = Infer<typeof tlsMatchAttributes>;

/** istio.networking.v1.TCPRoute */
export const tcpRoute = t.object('TCPRoute', {
  match: t.array(l4MatchAttributes),
  route: t.array(routeDestination),
});
export type TCPRoute = Infer<typeof tcpRoute>;

/** istio.networking.v1.TLSRoute */
export const tlsRoute = t.object('TLSRoute', {
  match: t.array(tlsMatchAttributes).required(),
  route: t.array(routeDestination),
});
export type TLSRoute = Infer<typeof tlsRoute>;

/** istio.networking.v1.VirtualService */
export const virtualServiceSpec = t.object('VirtualService', {
  hosts: t.array(t.string()),
  gateways: t.array(t.string()),
  http: t.array(httpRoute),
  tls: t.array(tlsRoute),
  tcp: t.array(tcpRoute),
  exportTo: t.array(t.string()),
});
export type VirtualService = Infer<typeof virtualServiceSpec>;

export const virtualServiceKind = defineKind({
  kind: 'VirtualService',
  group: GROUP_NETWORKING,
  versions: NETWORKING_VERSIONS,
  plural: 'virtualservices',
  spec: virtualServiceSpec,
  validate: validateVirtualService,
});
