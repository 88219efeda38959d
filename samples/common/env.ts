/**
 * Settings of a sample workload: read from a plain string map (the process environment for a
 * spawned workload, an explicit map for one started in-process), checked once at start-up, with
 * errors that name the variable and what it accepts.
 */
export type SampleEnv = Readonly<Record<string, string | undefined>>;

export class SampleConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SampleConfigError';
  }
}

function raw(env: SampleEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function envString(env: SampleEnv, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

export function envOptionalString(env: SampleEnv, name: string): string | undefined {
  return raw(env, name);
}

export function envInt(env: SampleEnv, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  return parseIntIn(value, name, min, max);
}

/** Parses a decimal integer within [min, max]; `what` names the setting in the error. */
export function parseIntIn(value: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) {
    throw new SampleConfigError(
      `${what}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  const n = Number(value);
  if (n < min || n > max) {
    throw new SampleConfigError(`${what}: ${n} is out of range (${min}..${max})`);
  }
  return n;
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

export function envBool(env: SampleEnv, name: string, fallback: boolean): boolean {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const lower = value.toLowerCase();
  if (TRUE.has(lower)) return true;
  if (FALSE.has(lower)) return false;
  throw new SampleConfigError(
    `${name}: expected true or false (1/0, yes/no, on/off), got ${JSON.stringify(value)}`,
  );
}

/** An http:// base URL (no path beyond `/`, no query): where an upstream service is called. */
export function envHttpBase(env: SampleEnv, name: string, fallback: string): URL {
  const value = raw(env, name) ?? fallback;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SampleConfigError(
      `${name}: not a URL: ${JSON.stringify(value)} (expected e.g. http://reviews:9080)`,
    );
  }
  if (url.protocol !== 'http:') {
    throw new SampleConfigError(
      `${name}: only plain http:// is supported (the sidecar adds TLS), got ${value}`,
    );
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username) {
    throw new SampleConfigError(
      `${name}: give only scheme, host and port (e.g. http://reviews:9080), got ${value}`,
    );
  }
  return url;
}

/** A gRPC target `host:port` (plaintext). */
export function envGrpcTarget(env: SampleEnv, name: string, fallback: string): string {
  const value = raw(env, name) ?? fallback;
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(value)) {
    throw new SampleConfigError(
      `${name}: expected host:port (e.g. ratings:9080), got ${JSON.stringify(value)}`,
    );
  }
  const port = Number(value.slice(value.lastIndexOf(':') + 1));
  if (port < 1 || port > 65535)
    throw new SampleConfigError(`${name}: port ${port} is out of range (1..65535)`);
  return value;
}

/** A value for a Host / :authority header override: host or host:port, nothing else. */
export function envAuthority(env: SampleEnv, name: string): string | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(value)) {
    throw new SampleConfigError(`${name}: expected host or host:port, got ${JSON.stringify(value)}`);
  }
  return value;
}

const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function checkVersion(version: string): string {
  if (!VERSION_RE.test(version)) {
    throw new SampleConfigError(
      `version: ${JSON.stringify(version)} is not a valid label value (letters, digits, '.', '_', '-'; at most 63)`,
    );
  }
  return version;
}
