/**
 * Benchmark backend: a minimal keep-alive HTTP/1.1 responder on raw sockets that answers every
 * request with the same 1 KiB body, so the measurement is about the proxy, not the backend.
 * Usage: node bench/proxy/upstream.ts [port]  (prints the port)
 */
import net from 'node:net';

const body = Buffer.alloc(1024, 'x');
const response = Buffer.concat([
  Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n`),
  body,
]);
const END = Buffer.from('\r\n\r\n');

const server = net.createServer((s) => {
  s.setNoDelay(true);
  let pending: Buffer = Buffer.alloc(0);
  s.on('data', (d: Buffer) => {
    pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
    let n = 0;
    let from = 0;
    for (;;) {
      const i = pending.indexOf(END, from);
      if (i < 0) break;
      n++;
      from = i + 4;
    }
    pending = from === pending.length ? Buffer.alloc(0) : pending.subarray(from);
    if (n === 1) s.write(response);
    else if (n > 1) s.write(Buffer.concat(new Array(n).fill(response)));
  });
  s.on('error', () => {});
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log((server.address() as net.AddressInfo).port);
});
