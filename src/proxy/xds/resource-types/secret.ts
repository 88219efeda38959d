/**
 * SDS: envoy.extensions.transport_sockets.tls.v3.Secret. Basic check: exactly one kind of
 * secret (a certificate, session ticket keys, a validation context or a generic secret).
 */
import { SECRET_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import {
  type CompileHook,
  createResourceType,
  type Dependency,
  isObject,
  type ProtoMessage,
  type ResourceIssues,
  type ResourceType,
} from './resource-type.ts';

const SECRET_KINDS = [
  'tls_certificate',
  'session_ticket_keys',
  'validation_context',
  'generic_secret',
] as const;

export function validateSecret(s: ProtoMessage, issues: ResourceIssues): Dependency[] {
  const set = SECRET_KINDS.filter((k) => isObject(s[k]));
  if (set.length === 0) issues.error('', `a secret needs one of ${SECRET_KINDS.join(', ')}`);
  return [];
}

export function secretResourceType<C = unknown>(compile?: CompileHook<C>): ResourceType<C> {
  return createResourceType<C>({
    typeUrl: SECRET_TYPE_URL,
    shortName: 'SDS',
    kind: 'Secret',
    allResourcesRequiredInSotW: false,
    nameField: 'name',
    validate: validateSecret,
    compile,
  });
}
