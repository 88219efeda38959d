/** Test helper: one HTTP/1.1 request head through the proxy's real parser, as a HeaderMap. */
import {
  H1Parser,
  type H1ParserHandler,
  HEAD_CONTINUE,
  KIND_REQUEST,
} from '../../../../src/proxy/network/http/codec-h1.ts';
import type { HeaderMap } from '../../../../src/proxy/network/http/headers.ts';

/** Parses one request head; returns its header map (valid while `text`'s buffer lives). */
export function parseHead(text: string): HeaderMap {
  let seen: HeaderMap | undefined;
  const h: H1ParserHandler = {
    onMessageHead(p) {
      seen = p.headers;
      return HEAD_CONTINUE;
    },
    onBody() {},
    onTrailers() {},
    onMessageComplete: () => true,
  };
  const p = new H1Parser(KIND_REQUEST, h, { maxHeaderBytes: 8192, maxHeaderCount: 100 });
  p.execute(Buffer.from(text, 'latin1'));
  if (p.isError || seen === undefined) throw new Error(`did not parse: ${p.errorDetails}`);
  return seen;
}
