/** Loads every built-in load balancer so its registration runs. */
import './round-robin.ts';
import './least-request.ts';
import './random.ts';

export { loadBalancerFactory, registeredLoadBalancers } from './load-balancer.ts';
