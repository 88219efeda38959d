/**
 * The table of sample workloads: name, default port, what it is, and how to start it. Each
 * workload's module is loaded only when it starts, so a process carries only its own code
 * (gRPC is loaded by reviews and ratings alone).
 */
import type { Workload, WorkloadContext } from './common/workload.ts';

export interface WorkloadSpec {
  readonly defaultPort: number;
  readonly description: string;
  start(ctx: WorkloadContext): Promise<Workload>;
}

export const WORKLOADS = {
  productpage: {
    defaultPort: 9080,
    description: 'bookinfo front end: HTML page and JSON API; calls details and reviews over HTTP/1.1',
    start: async (ctx) => (await import('./bookinfo/productpage.ts')).startProductPage(ctx),
  },
  details: {
    defaultPort: 9080,
    description: 'bookinfo book details (HTTP/1.1 JSON)',
    start: async (ctx) => (await import('./bookinfo/details.ts')).startDetails(ctx),
  },
  reviews: {
    defaultPort: 9080,
    description: 'bookinfo reviews; v1 no ratings, v2 black stars, v3 red stars (calls ratings over gRPC)',
    start: async (ctx) => (await import('./bookinfo/reviews.ts')).startReviews(ctx),
  },
  ratings: {
    defaultPort: 9080,
    description: 'bookinfo ratings: gRPC ratings.v1.Ratings and HTTP GET /ratings/{id} on one port',
    start: async (ctx) => (await import('./bookinfo/ratings.ts')).startRatings(ctx),
  },
  'tcp-echo': {
    defaultPort: 9000,
    description: 'TCP line echo, each line prefixed by version (one, two, …)',
    start: async (ctx) => (await import('./tcp-echo/tcp-echo.ts')).startTcpEcho(ctx),
  },
  'ws-echo': {
    defaultPort: 8090,
    description: 'WebSocket echo (RFC 6455) over HTTP/1.1',
    start: async (ctx) => (await import('./ws-echo/ws-echo.ts')).startWsEcho(ctx),
  },
} as const satisfies Record<string, WorkloadSpec>;

export type WorkloadName = keyof typeof WORKLOADS;

export const WORKLOAD_NAMES = Object.keys(WORKLOADS) as WorkloadName[];

export function isWorkloadName(name: string): name is WorkloadName {
  return Object.hasOwn(WORKLOADS, name);
}
