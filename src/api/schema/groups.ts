/** Istio's API groups (one place for the strings). */
export const GROUP_NETWORKING = 'networking.istio.io';
export const GROUP_SECURITY = 'security.istio.io';
export const GROUP_TELEMETRY = 'telemetry.istio.io';
/** Versions Istio serves per group, newest first. */
export const NETWORKING_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'] as const;
export const SECURITY_VERSIONS = ['v1', 'v1beta1'] as const;
export const TELEMETRY_VERSIONS = ['v1', 'v1alpha1'] as const;
