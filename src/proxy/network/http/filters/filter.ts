/**
 * The HTTP filter interface (CODE-STYLE §A): a factory compiled from config creates a filter
 * per stream (or hands out one stateless instance); the connection manager calls
 * onRequestHeaders → onRequestBody* → onRequestTrailers? in filter order and
 * onResponseHeaders → onResponseBody* → onResponseTrailers? in reverse order, then onDone once.
 * Each call returns CONTINUE, STOP (the filter resumes the stream later with
 * continueDecoding/continueEncoding) or a LocalReply, which ends the stream with a locally
 * generated response. The router is the terminal filter: it never returns CONTINUE from
 * onRequestHeaders and produces the response itself.
 */
import type { ConnectionInfo } from '../../../stream-info.ts';
import type { Host } from '../../../upstream/host.ts';
import type { HeaderMap } from '../headers.ts';
import type { RouteEntry, RouteTable } from '../router/route-table.ts';

export const CONTINUE = 0;
export const STOP = 1;

export interface LocalReply {
  readonly status: number;
  readonly body?: string;
  /** Envoy response code details (e.g. `route_not_found`). */
  readonly details: string;
  /** RF_* response flag bits. */
  readonly flags?: number;
  readonly headers?: readonly (readonly [string, string])[];
  /** For gRPC requests: the grpc-status to send (default: mapped from `status`). */
  readonly grpcStatus?: number;
}

export type FilterStatus = typeof CONTINUE | typeof STOP | LocalReply;

/** What a filter sees of the stream it is attached to. */
export interface HttpStream {
  readonly connection: ConnectionInfo;
  readonly requestHeaders: HeaderMap;
  readonly method: string;
  /** :path; writable (a rewrite). */
  path: string;
  /** :authority / Host; writable (a rewrite). */
  authority: string;
  readonly scheme: string;
  /** HTTP/1.x minor version of the downstream request. */
  readonly versionMinor: number;
  /** Downstream protocol as Envoy names it: 'HTTP/1.0', 'HTTP/1.1' or 'HTTP/2'. */
  readonly protocol: string;
  /** Cluster the router forwards to (undefined until routed, or for local replies). */
  readonly upstreamCluster: string | undefined;
  /** The upstream host of the latest attempt (undefined until one is chosen). */
  readonly upstreamHost: Host | undefined;
  readonly requestId: string;
  /** Whether the request came from an internal address (Envoy's internal/external rules). */
  readonly internal: boolean;
  /** The trusted client address (after XFF rules). */
  readonly downstreamAddress: string;
  /** Route for the request as it stands (computed lazily; cleared by clearRouteCache). */
  readonly route: RouteEntry | undefined;
  readonly routeTable: RouteTable | undefined;
  clearRouteCache(): void;
  /** Response status and headers once known (undefined before onResponseHeaders). */
  readonly responseStatus: number;
  readonly responseHeaders: HeaderMap | undefined;
  readonly responseFlags: number;
  addResponseFlag(flag: number): void;
  readonly responseCodeDetails: string;
  /** Resumes decoding after a filter returned STOP. */
  continueDecoding(): void;
  /** Resumes encoding after a filter returned STOP. */
  continueEncoding(): void;
  /** Ends the stream with a locally generated response (or a reset if a response started). */
  sendLocalReply(reply: LocalReply): void;
  /** Per-filter config of the selected route / virtual host, by filter name. */
  perFilterConfig(filterName: string): unknown;
  readonly startTime: number;
  readonly bytesReceived: number;
  readonly bytesSent: number;
}

export interface HttpFilter {
  onRequestHeaders?(stream: HttpStream, endStream: boolean): FilterStatus;
  onRequestBody?(stream: HttpStream, data: Buffer, endStream: boolean): FilterStatus;
  onRequestTrailers?(stream: HttpStream, trailers: HeaderMap): FilterStatus;
  onResponseHeaders?(stream: HttpStream, endStream: boolean): FilterStatus;
  onResponseBody?(stream: HttpStream, data: Buffer, endStream: boolean): FilterStatus;
  onResponseTrailers?(stream: HttpStream, trailers: HeaderMap): FilterStatus;
  /** The stream ended (completed, reset or replied locally). Called exactly once. */
  onDone?(stream: HttpStream): void;
}

/** A compiled filter: creates the per-stream instance. */
export interface HttpFilterFactory {
  readonly name: string;
  /** The router: the last filter, which produces the response. */
  readonly terminal: boolean;
  create(stream: HttpStream): HttpFilter;
}

export function isLocalReply(s: FilterStatus): s is LocalReply {
  return typeof s === 'object';
}
