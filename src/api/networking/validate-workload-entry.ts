/**
 * WorkloadEntry semantic rules (Istio's validateWorkloadEntry and the CRD's limits). The same
 * message is a ServiceEntry endpoint and a WorkloadGroup template, with different rules for
 * the address; `validateWorkloadEntryFields` takes the context as options.
 */
import { fqdnError, isIpAddress, validateLabels, validatePort } from '../common/validators.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { type FieldPath, type Issues, show } from '../validation.ts';
import { UNIX_PREFIX, validateMaxLength, validatePortName, validateUnixAddress } from './validate-gateway.ts';
import type { WorkloadEntry } from './workload-entry.ts';

export interface WorkloadEntryRules {
  /**
   * What the address may be:
   * - `standalone`: a WorkloadEntry object: IP, host name or unix socket; may be omitted when
   *   `network` is set (the workload is reached through that network's gateway);
   * - `static`: a ServiceEntry endpoint with resolution STATIC: IP or unix socket, same rule;
   * - `dns`: a ServiceEntry endpoint with resolution DNS/DNS_ROUND_ROBIN: IP or host name, required;
   * - `template`: a WorkloadGroup template: each workload fills it in, so it should be unset.
   */
  readonly address: 'standalone' | 'static' | 'dns' | 'template';
  /**
   * ServiceEntry port names the endpoint's `ports` may use; undefined for a standalone
   * WorkloadEntry or a template, which are not tied to one ServiceEntry.
   */
  readonly servicePorts?: ReadonlySet<string>;
}

export function validateWorkloadEntry(spec: WorkloadEntry, ctx: SemanticContext): void {
  validateWorkloadEntryFields(spec, ctx.path, ctx.issues, { address: 'standalone' });
}

export function validateWorkloadEntryFields(
  we: WorkloadEntry,
  path: FieldPath,
  issues: Issues,
  rules: WorkloadEntryRules,
): void {
  const address = we.address ?? '';
  const unix = address.startsWith(UNIX_PREFIX);
  const at = [...path, 'address'];
  validateMaxLength(we.address, 256, at, issues);
  validateMaxLength(we.network, 2048, [...path, 'network'], issues);
  validateMaxLength(we.locality, 2048, [...path, 'locality'], issues);
  validateMaxLength(we.serviceAccount, 253, [...path, 'serviceAccount'], issues);
  if (rules.address === 'template') {
    // Istio's docs: the address and labels come from each workload and from spec.metadata.
    if (we.address !== undefined) {
      issues.warn(at, 'address should not be set in a template; each workload registers its own');
    }
    if (we.labels !== undefined) {
      issues.warn(
        [...path, 'labels'],
        'labels should not be set in a template; set them in spec.metadata.labels',
      );
    }
  } else if (address === '') {
    if (rules.address === 'dns') {
      issues.error(at, 'address is required: with resolution DNS it is the host name or IP to connect to');
      return;
    }
    if (!we.network) {
      issues.error(
        at,
        "address is required (it may be omitted only when network is set, to reach the workload through that network's gateway)",
      );
      return;
    }
    issues.warn(
      at,
      `address is not set: the workload is reached only through the gateway of network ${show(we.network)}`,
    );
  } else if (unix) {
    if (rules.address === 'dns') {
      issues.error(at, `${show(address)}: unix domain socket endpoints cannot be used with resolution DNS`);
    } else validateUnixAddress(address, at, issues);
    if (we.ports && Object.keys(we.ports).length > 0) {
      issues.error(
        [...path, 'ports'],
        `an endpoint with a unix domain socket address (${show(address)}) cannot have ports`,
      );
    }
    if (rules.address === 'static' && rules.servicePorts && rules.servicePorts.size !== 1) {
      issues.error(
        at,
        `an endpoint with a unix domain socket address needs exactly one ServiceEntry port (found ${rules.servicePorts.size})`,
      );
    }
  } else if (!isIpAddress(address)) {
    if (rules.address === 'static') {
      issues.error(
        at,
        `${show(address)} is not a valid IP address; resolution STATIC needs IP addresses or unix:// sockets (use resolution DNS for host names)`,
      );
    } else if (/^[^:]+:\d+$|^\[.*\]:\d+$/.test(address)) {
      issues.error(at, `${show(address)}: an address has no port; set the port numbers in ports`);
    } else {
      const problem = fqdnError(address);
      if (problem) {
        const reason = problem.replace(`${show(address)} is not a valid host name: `, '');
        issues.error(at, `${show(address)} is neither an IP address nor a valid host name: ${reason}`);
      }
    }
  }
  for (const [name, port] of Object.entries(we.ports ?? {})) {
    const portPath = [...path, 'ports', name];
    validatePortName(name, portPath, issues);
    validatePort(port, portPath, issues);
    if (rules.servicePorts && !rules.servicePorts.has(name)) {
      const declared = [...rules.servicePorts].map((p) => show(p)).join(', ') || 'none';
      issues.error(
        portPath,
        `port name ${show(name)} is not one of the ServiceEntry's ports (declared: ${declared})`,
      );
    }
  }
  if (we.labels) validateLabels(we.labels, [...path, 'labels'], issues);
  if (we.locality !== undefined) validateLocality(we.locality, [...path, 'locality'], issues);
}

/**
 * `region/zone/subzone`, each part optional from the right. Istio accepts anything here (the
 * proxy simply never matches a malformed locality), so problems are warnings.
 */
function validateLocality(locality: string, path: FieldPath, issues: Issues): void {
  const parts = locality.split('/');
  if (locality === '' || parts.length > 3 || parts.some((p) => p === '')) {
    issues.warn(path, `${show(locality)} is not of the form region, region/zone or region/zone/subzone`);
  }
}
