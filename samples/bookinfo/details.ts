/**
 * details: the book's details as JSON, `GET /details/{id}`. Settings: POD_NAME.
 */
import { healthRoute, json, router, startHttpService, statusRoute } from '../common/http-service.ts';
import type { Workload, WorkloadContext } from '../common/workload.ts';
import { bookDetails, parseProductId, podName } from './data.ts';

export async function startDetails(ctx: WorkloadContext): Promise<Workload> {
  const pod = podName(ctx.env, ctx.name, ctx.version);
  const handler = router([
    healthRoute(ctx.name, ctx.version),
    statusRoute(ctx.name, ctx.version),
    {
      method: 'GET',
      pattern: /^\/details\/([^/]+)$/,
      handle: (_req, [raw]) => {
        const id = parseProductId(raw);
        if (id === undefined) return json(400, { error: 'please provide a numeric product id' });
        return json(200, { ...bookDetails(id), version: ctx.version, podname: pod });
      },
    },
  ]);
  return startHttpService({ ctx, handler });
}
