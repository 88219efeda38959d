/**
 * SDS secrets the proxy holds (envoy.extensions.transport_sockets.tls.v3.Secret), by name, as
 * the xDS client delivers them. Transport sockets keep the secret's name, not its bytes, and
 * read the current value when they build a TLS context; `generation` changes on every update
 * so a context is rebuilt after a rotation without re-reading per connection.
 */
import { readFileSync } from 'node:fs';
import { logger } from '../../lib/log.ts';
import {
  CompileContext,
  type CompileResult,
  type ProtoReader,
  ProtoReader as Reader,
} from '../config/proto.ts';
import type { XdsUpdate } from '../xds/client.ts';
import type { CertificateMaterial, ValidationMaterial } from './tls-material.ts';
import { compileCertificateValidationContext, compileTlsCertificate } from './tls-material.ts';

const log = logger('proxy:secrets');

export type CompiledSecret =
  | { readonly kind: 'tls_certificate'; readonly certificate: CertificateMaterial }
  | { readonly kind: 'validation_context'; readonly validation: ValidationMaterial };

/** extensions.transport_sockets.tls.v3.Secret → CompiledSecret (the SDS compile hook). */
export function compileSecret(
  proto: unknown,
  options: { decodeAny?: CompileContext['decodeAny']; readFile?: (p: string) => Buffer } = {},
): CompileResult<CompiledSecret> {
  const ctx = new CompileContext({ decodeAny: options.decodeAny });
  const r = new Reader(ctx, proto, '', 'envoy.extensions.transport_sockets.tls.v3.Secret');
  r.string('name');
  const readFile = options.readFile ?? readFileSync;
  const which = r.oneof(['tls_certificate', 'validation_context', 'session_ticket_keys', 'generic_secret']);
  r.raw('type');
  let out: CompiledSecret | undefined;
  if (which === 'tls_certificate') {
    out = {
      kind: 'tls_certificate',
      certificate: compileTlsCertificate(r.message(which) as ProtoReader, readFile),
    };
  } else if (which === 'validation_context') {
    out = {
      kind: 'validation_context',
      validation: compileCertificateValidationContext(r.message(which) as ProtoReader, readFile),
    };
  } else if (which === 'session_ticket_keys') {
    r.unsupported(which, 'session ticket keys are not supported (Envoy key format cannot be used by Node)');
  } else if (which === 'generic_secret') {
    r.unsupported(which, 'generic secrets are not supported');
  } else {
    ctx.error('', 'a secret needs one of tls_certificate, validation_context');
  }
  r.done();
  return ctx.result(out as CompiledSecret);
}

export class SecretStore {
  readonly #secrets = new Map<string, CompiledSecret>();
  #generation = 0;

  /** Changes whenever any secret changes. */
  get generation(): number {
    return this.#generation;
  }

  get(name: string): CompiledSecret | undefined {
    return this.#secrets.get(name);
  }

  set(name: string, secret: CompiledSecret): void {
    this.#secrets.set(name, secret);
    this.#generation++;
  }

  delete(name: string): void {
    if (this.#secrets.delete(name)) this.#generation++;
  }

  /** An SDS update: compiled values are used as they are; raw messages are compiled here. */
  apply(update: XdsUpdate): void {
    for (const u of [...update.added, ...update.updated]) {
      let secret = u.resource.compiled as CompiledSecret | undefined;
      if (secret === undefined) {
        const r = compileSecret(u.resource.message);
        if (!r.ok) {
          log.error('secret rejected', {
            secret: u.name,
            errors: r.errors.map((e) => `${e.path}: ${e.message}`).join(' | '),
          });
          continue;
        }
        secret = r.value;
      }
      this.set(u.name, secret);
    }
    for (const name of update.removed) this.delete(name);
  }
}
