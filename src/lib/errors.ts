/**
 * Typed errors with stable codes (undici style). A code never changes meaning once released;
 * callers branch on `code`, people read `message`.
 */
export const ErrorCode = {
  CONFIG_INVALID: 'MZ_ERR_CONFIG_INVALID',
  CONFIG_UNREADABLE: 'MZ_ERR_CONFIG_UNREADABLE',
  INVALID_ARGUMENT: 'MZ_ERR_INVALID_ARGUMENT',
  XDS_NACK: 'MZ_ERR_XDS_NACK',
  UPSTREAM_CONNECT_TIMEOUT: 'MZ_ERR_UPSTREAM_CONNECT_TIMEOUT',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class MizzenError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MizzenError';
    this.code = code;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
