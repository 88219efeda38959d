/**
 * Load balancer interface and registry. A policy registers a factory under its Envoy
 * lb_policy name; a cluster builds one balancer per host list (per priority, and per panic
 * list) and rebuilds it when membership changes, never per request.
 */
import type { Host } from '../host.ts';

/** Per-request facts a balancer may consult (retry host predicates). */
export interface LbContext {
  /** True when the retry host predicate rejects `host` (e.g. previous_hosts). */
  shouldSelectAnotherHost(host: Host): boolean;
  /** How many times selection may be re-attempted when the predicate rejects a host. */
  readonly hostSelectionRetryCount: number;
  /** ORIGINAL_DST: the downstream connection's original destination, if known. */
  downstreamOriginalDst?(): { readonly address: string; readonly port: number } | undefined;
  /** ORIGINAL_DST with use_http_header: a request header value. */
  requestHeader?(lowerName: string): string | undefined;
}

export interface LoadBalancer {
  /** Picks one host of the list it was built for, or null when the list is empty. */
  pick(ctx: LbContext | undefined): Host | null;
}

export interface LbSettings {
  /** least_request_lb_config.choice_count (default 2). */
  readonly choiceCount: number;
  /** least_request_lb_config.active_request_bias (default 1.0). */
  readonly activeRequestBias: number;
}

export type LoadBalancerFactory = (
  hosts: readonly Host[],
  settings: LbSettings,
  random: () => number,
) => LoadBalancer;

const registry = new Map<string, LoadBalancerFactory>();

export function registerLoadBalancer(policy: string, factory: LoadBalancerFactory): void {
  registry.set(policy, factory);
}

export function loadBalancerFactory(policy: string): LoadBalancerFactory | undefined {
  return registry.get(policy);
}

export function registeredLoadBalancers(): string[] {
  return [...registry.keys()];
}

/** Picks with the retry host predicate: re-pick up to N times, then take the last pick. */
export function pickWithPredicate(lb: LoadBalancer, ctx: LbContext | undefined): Host | null {
  let host = lb.pick(ctx);
  if (host === null || ctx === undefined) return host;
  for (let i = 0; i < ctx.hostSelectionRetryCount && ctx.shouldSelectAnotherHost(host); i++) {
    const next = lb.pick(ctx);
    if (next === null) break;
    host = next;
  }
  return host;
}

/**
 * Earliest-deadline-first scheduler (Envoy's EDF): each entry is due every 1/weight; picking
 * takes the earliest and re-queues it. Over one cycle every host is picked in proportion to
 * its weight, interleaved smoothly.
 */
export class EdfScheduler<T> {
  private readonly items: T[] = [];
  private readonly deadlines: number[] = [];
  private readonly order: number[] = [];
  private seq = 0;
  private now = 0;

  add(item: T, weight: number, offset = 0): void {
    this.push(item, this.now + offset + 1 / weight);
  }

  private push(item: T, deadline: number): void {
    const items = this.items;
    const d = this.deadlines;
    const o = this.order;
    let i = items.length;
    items.push(item);
    d.push(deadline);
    o.push(this.seq++);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (d[p] < d[i] || (d[p] === d[i] && o[p] < o[i])) break;
      this.swap(i, p);
      i = p;
    }
  }

  private swap(a: number, b: number): void {
    const items = this.items;
    const d = this.deadlines;
    const o = this.order;
    [items[a], items[b]] = [items[b], items[a]];
    [d[a], d[b]] = [d[b], d[a]];
    [o[a], o[b]] = [o[b], o[a]];
  }

  get size(): number {
    return this.items.length;
  }

  /** Takes the earliest item and re-queues it with `weightOf(item)`. */
  pickAndAdd(weightOf: (item: T) => number): T | undefined {
    if (this.items.length === 0) return undefined;
    const item = this.items[0];
    const deadline = this.deadlines[0];
    this.popTop();
    this.now = deadline;
    this.push(item, deadline + 1 / Math.max(weightOf(item), 1e-9));
    return item;
  }

  private popTop(): void {
    const items = this.items;
    const d = this.deadlines;
    const o = this.order;
    const last = items.length - 1;
    this.swap(0, last);
    items.pop();
    d.pop();
    o.pop();
    let i = 0;
    const n = items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && (d[l] < d[m] || (d[l] === d[m] && o[l] < o[m]))) m = l;
      if (r < n && (d[r] < d[m] || (d[r] === d[m] && o[r] < o[m]))) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }
}

export function allWeightsEqual(hosts: readonly Host[]): boolean {
  for (let i = 1; i < hosts.length; i++) if (hosts[i].weight !== hosts[0].weight) return false;
  return true;
}
