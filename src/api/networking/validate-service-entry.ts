/**
 * ServiceEntry semantic rules: Istio's ValidateServiceEntry (webhook) and the CRD's rules
 * (limits, CEL) — hosts, addresses, ports, resolution versus endpoints/hosts/addresses,
 * endpoints as WorkloadEntries, workloadSelector and exportTo.
 */
import {
  fqdnError,
  validateConfigExportTo,
  validateIpOrCidr,
  validatePort,
  wildcardDomainError,
} from '../common/validators.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { show } from '../validation.ts';
import type { ServiceEntry } from './service-entry.ts';
import {
  isHttpProtocol,
  isPartialWildcard,
  isTcpProtocol,
  isTlsProtocol,
  parseProtocol,
  validateMaxItems,
  validateMaxLength,
  validatePortName,
  validateProtocol,
  validateWorkloadSelectorLabels,
} from './validate-gateway.ts';
import { validateWorkloadEntryFields } from './validate-workload-entry.ts';

export function validateServiceEntry(spec: ServiceEntry, ctx: SemanticContext): void {
  const { issues, path, meta } = ctx;
  const resolution = spec.resolution ?? 'NONE';
  const endpoints = spec.endpoints ?? [];
  const hasEndpoints = endpoints.length > 0;
  const addresses = spec.addresses ?? [];
  const ports = spec.ports ?? [];

  if (spec.workloadSelector) {
    validateWorkloadSelectorLabels(spec.workloadSelector.labels, [...path, 'workloadSelector'], issues);
    if (hasEndpoints) {
      issues.error(
        [...path, 'workloadSelector'],
        'only one of workloadSelector and endpoints may be set: the selector finds the endpoints',
      );
    }
  }

  const { hosts } = spec;
  if (hosts.length === 0) issues.error([...path, 'hosts'], 'a ServiceEntry needs at least one host');
  validateMaxItems(hosts, 256, [...path, 'hosts'], issues);
  const badHosts = new Set<number>();
  hosts.forEach((h, i) => {
    const at = [...path, 'hosts', i];
    if (h === '*') {
      issues.error(
        at,
        '"*" is not allowed as a ServiceEntry host; name the hosts (a wildcard such as "*.example.com" is fine)',
      );
      badHosts.add(i);
      return;
    }
    const problem = wildcardDomainError(h);
    if (problem) {
      issues.error(at, problem);
      badHosts.add(i);
    } else if (isPartialWildcard(h)) {
      issues.warn(
        at,
        `partial wildcard ${show(h)}: Istio supports a wildcard only as "*" or a leading "*." label, so this may not match as intended`,
      );
    }
  });

  validateMaxItems(addresses, 256, [...path, 'addresses'], issues);
  let cidrReported = false;
  addresses.forEach((a, i) => {
    const at = [...path, 'addresses', i];
    if (!validateMaxLength(a, 64, at, issues)) return;
    if (!validateIpOrCidr(a, at, issues, true)) return;
    if (a.includes('/') && resolution !== 'NONE' && resolution !== 'STATIC' && !cidrReported) {
      issues.error(
        at,
        `CIDR block ${show(a)} is only allowed with resolution NONE or STATIC (resolution is ${resolution})`,
      );
      cidrReported = true;
    }
  });

  validateMaxItems(ports, 256, [...path, 'ports'], issues);
  const portNames = new Map<string, number>();
  const portNumbers = new Map<number, number>();
  ports.forEach((port, i) => {
    const at = [...path, 'ports', i];
    validateMaxLength(port.name, 256, [...at, 'name'], issues);
    validateMaxLength(port.protocol, 256, [...at, 'protocol'], issues);
    const sameName = portNames.get(port.name);
    if (sameName !== undefined) {
      issues.error(
        [...at, 'name'],
        `duplicate port name ${show(port.name)} (also used by ports[${sameName}])`,
      );
    } else {
      portNames.set(port.name, i);
      validatePortName(port.name, [...at, 'name'], issues);
    }
    const sameNumber = portNumbers.get(port.number);
    if (sameNumber !== undefined) {
      issues.error(
        [...at, 'number'],
        `duplicate port number ${port.number} (also used by ports[${sameNumber}])`,
      );
    } else {
      portNumbers.set(port.number, i);
      validatePort(port.number, [...at, 'number'], issues);
    }
    if (port.targetPort !== undefined) validatePort(port.targetPort, [...at, 'targetPort'], issues);
    validateProtocol(port.protocol, [...at, 'protocol'], issues);
    const protocol = parseProtocol(port.protocol);
    // Without addresses a TCP port is matched by port alone; with NONE nothing narrows it down.
    if (
      resolution === 'NONE' &&
      addresses.length === 0 &&
      (port.protocol === undefined || protocol === 'TCP')
    ) {
      issues.warn(
        at,
        `with resolution NONE and no addresses, ${protocol ?? 'unset'}-protocol port ${port.number} captures traffic to any IP address on that port`,
      );
    }
  });
  const servicePorts = new Set(portNames.keys());

  validateMaxItems(endpoints, 4096, [...path, 'endpoints'], issues);
  switch (resolution) {
    case 'NONE':
      if (hasEndpoints) {
        issues.error(
          [...path, 'endpoints'],
          'resolution NONE cannot have endpoints: the proxy forwards to the original destination; use STATIC or DNS',
        );
      }
      if (spec.workloadSelector) {
        issues.warn([...path, 'workloadSelector'], 'workloadSelector has no effect with resolution NONE');
      }
      break;
    case 'STATIC':
      endpoints.forEach((ep, i) => {
        validateWorkloadEntryFields(ep, [...path, 'endpoints', i], issues, {
          address: 'static',
          servicePorts,
        });
      });
      if (!hasEndpoints && !spec.workloadSelector) {
        issues.warn(
          [...path, 'resolution'],
          'resolution STATIC without endpoints or a workloadSelector: the ServiceEntry adds no endpoints of its own',
        );
      }
      break;
    case 'DNS':
    case 'DNS_ROUND_ROBIN':
      if (!hasEndpoints) {
        hosts.forEach((h, i) => {
          if (!badHosts.has(i) && fqdnError(h) !== undefined) {
            issues.error(
              [...path, 'hosts', i],
              `${show(h)}: resolution ${resolution} without endpoints resolves the hosts themselves, so they must be fully qualified names without wildcards`,
            );
          }
        });
      }
      if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) {
        issues.error(
          [...path, 'endpoints'],
          `resolution DNS_ROUND_ROBIN allows at most one endpoint (found ${endpoints.length})`,
        );
      }
      endpoints.forEach((ep, i) => {
        validateWorkloadEntryFields(ep, [...path, 'endpoints', i], issues, { address: 'dns', servicePorts });
      });
      // A workloadSelector is fine here: the addresses of the selected WorkloadEntries are
      // resolved as DNS names (Istio's WorkloadEntry reference documents this pairing).
      if (addresses.length > 0 && hosts.length > 1) {
        const tcp = ports.find((p) => isTcpProtocol(parseProtocol(p.protocol)));
        if (tcp) {
          issues.warn(
            [...path, 'hosts'],
            `with addresses and the TCP-based port ${show(tcp.name)}, connections to the addresses cannot be told apart between ${hosts.length} hosts; use one host per ServiceEntry`,
          );
        }
      }
      break;
    case 'DYNAMIC_DNS':
      // Istio's API: the proxy resolves the name from the Host header or SNI of each request,
      // which only makes sense for wildcard hosts outside the mesh.
      hosts.forEach((h, i) => {
        if (!badHosts.has(i) && !h.startsWith('*')) {
          issues.error(
            [...path, 'hosts', i],
            `resolution DYNAMIC_DNS needs wildcard hosts such as "*.example.com"; use resolution DNS for ${show(h)}`,
          );
        }
      });
      if ((spec.location ?? 'MESH_EXTERNAL') !== 'MESH_EXTERNAL') {
        issues.error(
          [...path, 'location'],
          'resolution DYNAMIC_DNS is only supported for MESH_EXTERNAL services',
        );
      }
      if (hasEndpoints)
        issues.warn([...path, 'endpoints'], 'endpoints are ignored with resolution DYNAMIC_DNS');
      if (spec.workloadSelector) {
        issues.warn(
          [...path, 'workloadSelector'],
          'workloadSelector has no effect with resolution DYNAMIC_DNS',
        );
      }
      break;
  }

  // Several hosts on one plain TCP port cannot be told apart (no Host header, no SNI), unless
  // resolution is NONE and the hosts are not used to route at all.
  if (resolution !== 'NONE' && hosts.length > 1) {
    const i = ports.findIndex((p) => {
      const protocol = parseProtocol(p.protocol);
      return !isHttpProtocol(protocol) && !isTlsProtocol(protocol);
    });
    if (i >= 0) {
      const p = ports[i];
      issues.error(
        [...path, 'ports', i],
        `port ${show(p.name)} (protocol ${p.protocol ? show(p.protocol) : 'not set'}) cannot serve ${hosts.length} hosts: with several hosts every port must be HTTP-based or TLS-based, so that the Host header or SNI tells them apart`,
      );
    }
  }

  if (spec.exportTo) {
    validateConfigExportTo(spec.exportTo, meta.namespace, [...path, 'exportTo'], issues, { allowNone: true });
  }
}
