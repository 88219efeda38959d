/**
 * The generators mizzend serves, in one registry: the golden harness, the fake control plane
 * and the ADS server all take them from here, so a generator registered once is tested and
 * served alike. Each generator module owns its type URL and trigger table.
 */
import type { PushContext } from '../../model/push-context.ts';
import { GRPC_FLAVOUR } from '../../networking/cluster/cluster-builder.ts';
import { GeneratorRegistry } from '../generator-registry.ts';
import { cdsGenerator } from './cds.ts';
import { edsGenerator } from './eds.ts';
import { grpcLdsGenerator, ldsGenerator } from './lds.ts';
import { grpcRdsGenerator, rdsGenerator } from './rds.ts';

export function defaultGenerators(): GeneratorRegistry<PushContext> {
  const registry = new GeneratorRegistry<PushContext>();
  registry.register(cdsGenerator);
  registry.register(edsGenerator);
  registry.register(ldsGenerator);
  registry.register(rdsGenerator);
  registry.register(grpcLdsGenerator, { flavour: GRPC_FLAVOUR });
  registry.register(grpcRdsGenerator, { flavour: GRPC_FLAVOUR });
  return registry;
}
