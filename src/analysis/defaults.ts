/**
 * Settings of an analysis run that the command line offers before anything heavy is
 * loaded: output formats and default namespaces. Kept free of imports so `--help` stays
 * fast.
 */
export const OUTPUT_FORMATS = ['log', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Namespace of objects that name none (istioctl's default). */
export const DEFAULT_NAMESPACE = 'default';

/** Istio's root namespace: policies there apply to every namespace. */
export const DEFAULT_ROOT_NAMESPACE = 'istio-system';
