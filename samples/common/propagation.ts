/**
 * The request headers an application must copy from its incoming request to the calls it makes,
 * so the mesh can join spans into one trace and route on request identity (`end-user`). A mesh
 * cannot do this for the application: only the application knows which outgoing call belongs
 * to which incoming request. The list follows what Istio's Bookinfo forwards.
 */
export const PROPAGATED_HEADERS: readonly string[] = [
  // request identity and end user
  'x-request-id',
  'end-user',
  'user-agent',
  'cookie',
  'authorization',
  // Zipkin / B3
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  // W3C trace context
  'traceparent',
  'tracestate',
  // other tracers
  'x-ot-span-context',
  'x-cloud-trace-context',
  'grpc-trace-bin',
  'x-datadog-trace-id',
  'x-datadog-parent-id',
  'x-datadog-sampling-priority',
];

/** Picks the propagated headers present on an incoming request. */
export function propagatedHeaders(
  incoming: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PROPAGATED_HEADERS) {
    const value = incoming[name];
    if (value !== undefined && value !== '') out[name] = value;
  }
  return out;
}
