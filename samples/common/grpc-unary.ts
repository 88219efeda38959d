/**
 * Server side of gRPC unary calls on a plain `node:http2` stream (gRPC over HTTP/2 as in
 * grpc/PROTOCOL-HTTP2.md). It lets one port carry gRPC, HTTP/2 and HTTP/1.1 requests together,
 * which @grpc/grpc-js's own server cannot (it answers every non-gRPC request with 415).
 * Messages are encoded and decoded by the functions @grpc/proto-loader generates, so the
 * wire format is that of the .proto file. Uncompressed messages only.
 */
import type http2 from 'node:http2';

/** gRPC status codes used here (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

export class GrpcStatusError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = 'GrpcStatusError';
    this.code = code;
  }
}

export interface UnaryMethod {
  /** `/package.Service/Method`. */
  readonly path: string;
  readonly decode: (message: Buffer) => unknown;
  readonly encode: (value: unknown) => Buffer;
  readonly handle: (request: unknown, metadata: http2.IncomingHttpHeaders) => Promise<unknown> | unknown;
}

export interface GrpcUnaryService {
  accepts(headers: http2.IncomingHttpHeaders): boolean;
  serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void;
}

/** grpc-message is percent-encoded: bytes outside printable ASCII, and '%' itself. */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Frames one message: compressed flag 0, 4-byte big-endian length, bytes. */
export function frameMessage(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

export function createGrpcUnaryService(
  methods: readonly UnaryMethod[],
  options: { maxMessageBytes?: number; onError?: (path: string, err: unknown) => void } = {},
): GrpcUnaryService {
  const byPath = new Map(methods.map((m) => [m.path, m]));
  const maxMessage = options.maxMessageBytes ?? 4 * 1024 * 1024;

  function trailersOnly(stream: http2.ServerHttp2Stream, code: number, message: string): void {
    if (stream.destroyed || stream.closed || stream.headersSent) return;
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': String(code),
        'grpc-message': encodeGrpcMessage(message),
      },
      { endStream: true },
    );
  }

  function reply(stream: http2.ServerHttp2Stream, payload: Buffer): void {
    if (stream.destroyed || stream.closed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(GrpcStatus.OK) }));
    stream.end(frameMessage(payload));
  }

  return {
    accepts(headers) {
      const type = headers['content-type'];
      return typeof type === 'string' && /^application\/grpc(\+|;|$)/.test(type);
    },
    serve(stream, headers) {
      const path = String(headers[':path'] ?? '');
      if (headers[':method'] !== 'POST') {
        stream.respond({ ':status': 405, allow: 'POST' }, { endStream: true });
        return;
      }
      const method = byPath.get(path);
      if (!method) {
        trailersOnly(stream, GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`);
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let failed = false;
      stream.on('data', (chunk: Buffer) => {
        if (failed) return;
        size += chunk.length;
        if (size > maxMessage + 5) {
          failed = true;
          trailersOnly(
            stream,
            GrpcStatus.RESOURCE_EXHAUSTED,
            `request message larger than ${maxMessage} bytes`,
          );
          return;
        }
        chunks.push(chunk);
      });
      stream.on('end', () => {
        if (failed) return;
        const body = Buffer.concat(chunks);
        if (body.length < 5) {
          trailersOnly(stream, GrpcStatus.INTERNAL, 'expected one request message, got none');
          return;
        }
        if (body[0] !== 0) {
          trailersOnly(stream, GrpcStatus.UNIMPLEMENTED, 'compressed messages are not supported');
          return;
        }
        const length = body.readUInt32BE(1);
        if (body.length !== 5 + length) {
          trailersOnly(stream, GrpcStatus.INTERNAL, 'expected exactly one complete request message');
          return;
        }
        let request: unknown;
        try {
          request = method.decode(body.subarray(5));
        } catch (err) {
          trailersOnly(stream, GrpcStatus.INTERNAL, `cannot decode request: ${(err as Error).message}`);
          return;
        }
        Promise.resolve()
          .then(() => method.handle(request, headers))
          .then(
            (response) => reply(stream, method.encode(response)),
            (err: unknown) => {
              if (err instanceof GrpcStatusError) {
                trailersOnly(stream, err.code, err.message);
              } else {
                options.onError?.(path, err);
                trailersOnly(stream, GrpcStatus.UNKNOWN, err instanceof Error ? err.message : String(err));
              }
            },
          );
      });
    },
  };
}
