/**
 * The ADS server's metrics, under Istio's control-plane names and labels so existing
 * dashboards keep working: pilot_xds_pushes, pilot_xds_push_time, pilot_proxy_convergence_time,
 * pilot_total_xds_rejects, pilot_xds (connections) and a few neighbours.
 */
import type { Counter, Gauge, Histogram, MetricsRegistry } from '../../lib/metrics.ts';

export interface XdsMetrics {
  readonly pushes: Counter;
  readonly pushTime: Histogram;
  readonly convergence: Histogram;
  readonly rejects: Counter;
  readonly connections: Gauge;
  readonly expiredNonce: Counter;
  readonly configSize: Histogram;
  readonly pushTriggers: Counter;
  readonly internalErrors: Counter;
}

export function xdsMetrics(registry: MetricsRegistry): XdsMetrics {
  return {
    pushes: registry.counter({
      name: 'pilot_xds_pushes',
      help: 'xDS responses sent, by type (lds, rds, cds, eds, …; a _senderr suffix counts failed sends).',
      labelNames: ['type'],
    }),
    pushTime: registry.histogram({
      name: 'pilot_xds_push_time',
      help: 'Seconds spent generating and sending one xDS response, by type.',
      labelNames: ['type'],
      buckets: [0.01, 0.1, 1, 3, 5, 10, 20, 30],
    }),
    convergence: registry.histogram({
      name: 'pilot_proxy_convergence_time',
      help: 'Seconds from the first config change of a push until a proxy was sent all of it.',
      buckets: [0.1, 0.5, 1, 3, 5, 10, 20, 30],
    }),
    rejects: registry.counter({
      name: 'pilot_total_xds_rejects',
      help: 'xDS responses rejected (NACKed) by proxies, by type.',
      labelNames: ['type'],
    }),
    connections: registry.gauge({
      name: 'pilot_xds',
      help: 'Proxies connected over xDS, by the Istio version they report.',
      labelNames: ['version'],
    }),
    expiredNonce: registry.counter({
      name: 'pilot_xds_expired_nonce',
      help: 'xDS requests whose nonce was superseded by a newer response, by type.',
      labelNames: ['type'],
    }),
    configSize: registry.histogram({
      name: 'pilot_xds_config_size_bytes',
      help: 'Size in bytes of xDS responses, by type.',
      labelNames: ['type'],
      buckets: [1, 10_000, 1_000_000, 4_000_000, 10_000_000, 40_000_000],
    }),
    pushTriggers: registry.counter({
      name: 'pilot_push_triggers',
      help: 'Pushes triggered, by reason.',
      labelNames: ['type'],
    }),
    internalErrors: registry.counter({
      name: 'pilot_total_xds_internal_errors',
      help: 'Internal errors while generating xDS responses.',
    }),
  };
}
