import { type TestContext, test } from 'node:test';
import {
  H1Parser,
  type H1ParserHandler,
  HEAD_CONTINUE,
  KIND_REQUEST,
  KIND_RESPONSE,
  UNDERSCORES_DROP,
  UNDERSCORES_REJECT,
} from '../../../../src/proxy/network/http/codec-h1.ts';
import type { HeaderMap } from '../../../../src/proxy/network/http/headers.ts';
import { assertNoOpenHandles } from '../../support/harness.ts';

interface Msg {
  method: string;
  target: string;
  status: number;
  minor: number;
  headers: [string, string][];
  body: string;
  trailers: [string, string][];
  close: boolean;
  keepAlive: boolean;
}

function collect(
  kind: number,
  opts: { pause?: boolean; maxHeaderBytes?: number; maxHeaderCount?: number; underscores?: number } = {},
) {
  const msgs: Msg[] = [];
  let cur: Msg | undefined;
  const h: H1ParserHandler = {
    onMessageHead(p) {
      cur = {
        method: p.method,
        target: kind === KIND_REQUEST ? p.target() : '',
        status: p.statusCode,
        minor: p.versionMinor,
        headers: p.headers.entries(),
        body: '',
        trailers: [],
        close: p.connClose,
        keepAlive: p.connKeepAlive,
      };
      if (kind === KIND_RESPONSE && p.statusCode < 200) msgs.push(cur);
      return HEAD_CONTINUE;
    },
    onBody(b, s, e) {
      cur!.body += b.toString('latin1', s, e);
    },
    onTrailers(p) {
      cur!.trailers = p.trailers.entries();
    },
    onMessageComplete() {
      msgs.push(cur!);
      return opts.pause ?? false;
    },
  };
  const parser = new H1Parser(kind, h, {
    maxHeaderBytes: opts.maxHeaderBytes ?? 60 * 1024,
    maxHeaderCount: opts.maxHeaderCount ?? 100,
    underscores: opts.underscores,
  });
  return { parser, msgs };
}

function parseRequest(input: string, opts = {}) {
  const { parser, msgs } = collect(KIND_REQUEST, opts);
  parser.execute(Buffer.from(input, 'latin1'));
  return { parser, msgs };
}

test('values keep obs-text bytes, inner whitespace and visible ASCII; trailing whitespace is trimmed', (t: TestContext) => {
  t.plan(3);
  const { parser, msgs } = parseRequest('GET / HTTP/1.1\r\nHost: x\r\nX: caf\xe9 a\tb ~!\x80\xff \t\r\n\r\n');
  t.assert.equal(parser.isError, false);
  t.assert.deepEqual(msgs[0].headers[1], ['x', 'caf\xe9 a\tb ~!\x80\xff']);
  t.assert.equal(msgs.length, 1);
});

test('simple GET with headers trimmed of surrounding whitespace', (t: TestContext) => {
  t.plan(5);
  const { parser, msgs } = parseRequest('GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Foo: \t bar \t\r\n\r\n');
  t.assert.equal(parser.isError, false);
  t.assert.equal(msgs.length, 1);
  t.assert.equal(msgs[0].method, 'GET');
  t.assert.equal(msgs[0].target, '/a?b=1');
  t.assert.deepEqual(msgs[0].headers, [
    ['host', 'x'],
    ['x-foo', 'bar'],
  ]);
});

const rejects: [string, string, number][] = [
  [
    'TE and CL together',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
    400,
  ],
  [
    'CL and TE together (reverse order)',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n',
    400,
  ],
  [
    'two different Content-Length lines',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n',
    400,
  ],
  [
    'Content-Length list with different values',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n',
    400,
  ],
  ['Content-Length with a sign', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n', 400],
  ['Content-Length empty', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n', 400],
  ['TE not ending in chunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 400],
  ['TE without chunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
  [
    'TE chunked twice',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n',
    400,
  ],
  [
    'TE with an unsupported coding before chunked',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
    501,
  ],
  ['TE on HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n', 400],
  ['space before colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 400],
  ['bare LF line ends', 'GET / HTTP/1.1\nHost: a\n\n', 400],
  ['bare CR in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n', 400],
  ['NUL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n', 400],
  ['DEL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n', 400],
  ['a control byte in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: ab\x1b\r\n\r\n', 400],
  ['bare LF inside a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n', 400],
  ['missing Host on HTTP/1.1', 'GET / HTTP/1.1\r\nX: y\r\n\r\n', 400],
  ['two Host lines', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
  ['HTTP/2.0 version', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505],
  ['garbage version', 'GET / HTTX/1.1\r\nHost: a\r\n\r\n', 400],
  ['space in target', 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  ['fragment in target', 'GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  ['bad method token', 'G(T / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  ['bad chunk size', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400],
  [
    'chunk data without CRLF',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n',
    400,
  ],
  [
    'huge chunk size',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n',
    400,
  ],
];
for (const [name, input, status] of rejects) {
  test(`rejects: ${name} → ${status}`, (t: TestContext) => {
    t.plan(2);
    const { parser } = parseRequest(input);
    t.assert.equal(parser.isError, true);
    t.assert.equal(parser.errorStatus, status);
  });
}

test('identical Content-Length values are one length', (t: TestContext) => {
  t.plan(3);
  const { parser, msgs } = parseRequest(
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc',
  );
  t.assert.equal(parser.isError, false);
  t.assert.equal(msgs.length, 1);
  t.assert.equal(msgs[0].body, 'abc');
});

test('header size limit → 431, count limit → 431', (t: TestContext) => {
  t.plan(4);
  const big = parseRequest(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(2000)}\r\n\r\n`, {
    maxHeaderBytes: 1024,
  });
  t.assert.equal(big.parser.errorStatus, 431);
  // Without the terminator yet: the limit is enforced while waiting for more bytes.
  const partial = parseRequest(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(2000)}`, {
    maxHeaderBytes: 1024,
  });
  t.assert.equal(partial.parser.errorStatus, 431);
  const many = parseRequest(`GET / HTTP/1.1\r\nHost: a\r\n${'X: 1\r\n'.repeat(5)}\r\n`, {
    maxHeaderCount: 5,
  });
  t.assert.equal(many.parser.errorStatus, 431);
  const ok = parseRequest(`GET / HTTP/1.1\r\nHost: a\r\n${'X: 1\r\n'.repeat(4)}\r\n`, { maxHeaderCount: 5 });
  t.assert.equal(ok.parser.isError, false);
});

test('underscore actions: reject and drop', (t: TestContext) => {
  t.plan(3);
  const r = parseRequest('GET / HTTP/1.1\r\nHost: a\r\nx_y: 1\r\n\r\n', { underscores: UNDERSCORES_REJECT });
  t.assert.equal(r.parser.errorStatus, 400);
  const d = parseRequest('GET / HTTP/1.1\r\nHost: a\r\nx_y: 1\r\nz: 2\r\n\r\n', {
    underscores: UNDERSCORES_DROP,
  });
  t.assert.equal(d.parser.isError, false);
  t.assert.deepEqual(d.msgs[0].headers, [
    ['host', 'a'],
    ['z', '2'],
  ]);
});

test('chunked body with extensions and trailers', (t: TestContext) => {
  t.plan(3);
  const { msgs } = parseRequest(
    'POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;name=v\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 42\r\nX-More: yes\r\n\r\n',
  );
  t.assert.equal(msgs.length, 1);
  t.assert.equal(msgs[0].body, 'hello world');
  t.assert.deepEqual(msgs[0].trailers, [
    ['x-checksum', '42'],
    ['x-more', 'yes'],
  ]);
});

test('pipelined requests parse in order; pausing stops after each message', (t: TestContext) => {
  t.plan(6);
  const input = Buffer.from(
    'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /3 HTTP/1.1\r\nHost: a\r\n\r\n',
    'latin1',
  );
  const { parser, msgs } = collect(KIND_REQUEST, { pause: true });
  let offset = 0;
  const seen: string[] = [];
  while (offset < input.length) {
    offset = parser.execute(input, offset);
    seen.push(msgs[msgs.length - 1].target);
    t.assert.equal(parser.isDone, true);
    parser.next();
  }
  t.assert.deepEqual(seen, ['/1', '/2', '/3']);
  t.assert.equal(msgs[1].body, 'hi');
  t.assert.equal(offset, input.length);
});

test('connection flags for HTTP/1.0 and 1.1', (t: TestContext) => {
  t.plan(5);
  const { msgs } = parseRequest(
    'GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
  );
  t.assert.equal(msgs.length, 3);
  t.assert.equal(msgs[0].minor, 0);
  t.assert.equal(msgs[0].keepAlive, false);
  t.assert.equal(msgs[1].keepAlive, true);
  t.assert.equal(msgs[2].close, true);
});

test('leading empty lines before a request are ignored', (t: TestContext) => {
  t.plan(2);
  const { parser, msgs } = parseRequest('\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
  t.assert.equal(parser.isError, false);
  t.assert.equal(msgs.length, 1);
});

test('byte-at-a-time input gives the same messages as one buffer', (t: TestContext) => {
  const input =
    'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n' +
    'PUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nwxyz' +
    'GET /c HTTP/1.1\r\nHost: x\r\n\r\n';
  const whole = parseRequest(input).msgs;
  const { parser, msgs } = collect(KIND_REQUEST);
  const buf = Buffer.from(input, 'latin1');
  for (let i = 0; i < buf.length; i++) parser.execute(buf.subarray(i, i + 1));
  // Also random split points (a small property test with a fixed seed).
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const splits: Msg[][] = [];
  for (let round = 0; round < 20; round++) {
    const c = collect(KIND_REQUEST);
    let i = 0;
    while (i < buf.length) {
      const n = 1 + Math.floor(rnd() * 40);
      c.parser.execute(buf.subarray(i, i + n));
      i += n;
    }
    splits.push(c.msgs);
  }
  t.plan(2 + splits.length);
  t.assert.equal(whole.length, 3);
  t.assert.deepEqual(msgs, whole);
  for (const s of splits) t.assert.deepEqual(s, whole);
});

test('heads ending on either side of the inline end-of-head scan parse alike, whole or split', (t: TestContext) => {
  // The end of a head is searched in JavaScript for the first 512 bytes, then natively.
  const heads: string[] = [];
  for (const size of [480, 505, 508, 509, 510, 511, 512, 513, 516, 530, 3000]) {
    const filler = 'v'.repeat(size - 'GET / HTTP/1.1\r\nHost: x\r\nX: \r\n\r\n'.length);
    heads.push(`GET / HTTP/1.1\r\nHost: x\r\nX: ${filler}\r\n\r\n`);
  }
  t.plan(heads.length * 3);
  for (const head of heads) {
    const input = `${head}GET /next HTTP/1.1\r\nHost: y\r\n\r\n`;
    const whole = parseRequest(input).msgs;
    t.assert.deepEqual(
      whole.map((m) => [m.target, m.headers[1]?.[1].length ?? 0]),
      [
        ['/', head.length - 'GET / HTTP/1.1\r\nHost: x\r\nX: \r\n\r\n'.length],
        ['/next', 0],
      ],
    );
    const { parser, msgs } = collect(KIND_REQUEST);
    const buf = Buffer.from(input, 'latin1');
    for (let i = 0; i < buf.length; i += 7) parser.execute(buf.subarray(i, i + 7));
    t.assert.deepEqual(msgs, whole);
    // Offset into a larger buffer (the scan starts after earlier bytes were consumed).
    const c = collect(KIND_REQUEST);
    const padded = Buffer.from(`\r\n${input}`, 'latin1');
    c.parser.execute(padded);
    t.assert.deepEqual(c.msgs, whole);
  }
});

function parseResponse(input: string, opts: { head?: boolean } = {}) {
  const { parser, msgs } = collect(KIND_RESPONSE, { pause: true });
  parser.expectNoBody = opts.head ?? false;
  parser.execute(Buffer.from(input, 'latin1'));
  return { parser, msgs };
}

test('responses: 1xx interim, 204, HEAD, close-delimited', (t: TestContext) => {
  t.plan(8);
  const interim = parseResponse(
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  );
  t.assert.deepEqual(
    interim.msgs.map((m) => m.status),
    [100, 200],
  );
  t.assert.equal(interim.msgs[1].body, 'ok');
  const nc = parseResponse('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n');
  t.assert.equal(nc.parser.isDone, true);
  const head = parseResponse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', { head: true });
  t.assert.equal(head.parser.isDone, true);
  const eof = parseResponse('HTTP/1.0 200 OK\r\n\r\nsome body');
  t.assert.equal(eof.parser.readsUntilClose, true);
  t.assert.equal(eof.parser.finish(), true);
  t.assert.equal(eof.msgs[0].body, 'some body');
  const bad = parseResponse('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n');
  t.assert.equal(bad.parser.errorStatus, 502);
});

test('property: edited header maps re-encode to what the edits say', (t: TestContext) => {
  let seed = 11;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const names = ['x-a', 'X-B', 'content-type', 'x-envoy-foo', 'via', 'x-request-id', 'Connection'];
  const rounds = 200;
  t.plan(rounds);
  for (let round = 0; round < rounds; round++) {
    // A head with random fields (and exactly one Host), parsed in place.
    const lines: [string, string][] = [['Host', 'h']];
    const n = Math.floor(rnd() * 12);
    for (let i = 0; i < n; i++) lines.push([names[Math.floor(rnd() * names.length)], `v${round}-${i}`]);
    let map: HeaderMap | undefined;
    const parser = new H1Parser(
      KIND_REQUEST,
      {
        onMessageHead(p) {
          map = p.headers;
          return HEAD_CONTINUE;
        },
        onBody() {},
        onTrailers() {},
        onMessageComplete: () => false,
      },
      { maxHeaderBytes: 65536, maxHeaderCount: 100 },
    );
    parser.execute(
      Buffer.from(`GET / HTTP/1.1\r\n${lines.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`, 'latin1'),
    );
    let expected: [string, string][] = lines.map(([k, v]) => [k.toLowerCase(), v]);
    // Random edits: remove, add, set.
    const ops = Math.floor(rnd() * 5);
    for (let o = 0; o < ops; o++) {
      const name = names[Math.floor(rnd() * names.length)].toLowerCase();
      const kind = Math.floor(rnd() * 3);
      if (kind === 0) {
        map!.remove(name);
        expected = expected.filter(([k]) => k !== name);
      } else if (kind === 1) {
        map!.add(name, `added-${o}`);
        expected.push([name, `added-${o}`]);
      } else {
        map!.set(name, `set-${o}`);
        expected = [...expected.filter(([k]) => k !== name), [name, `set-${o}`]];
      }
    }
    const out = Buffer.alloc(map!.encodedLength());
    const end = map!.encodeInto(out, 0);
    const reparsed = out
      .toString('latin1', 0, end)
      .split('\r\n')
      .filter((l) => l !== '')
      .map((l) => {
        const c = l.indexOf(':');
        return `${l.slice(0, c).toLowerCase()}=${l.slice(c + 1).trim()}`;
      });
    t.assert.deepEqual(reparsed.sort(), expected.map(([k, v]) => `${k}=${v}`).sort());
  }
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
