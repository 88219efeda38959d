/**
 * Keep-alive HTTP/1.1 load client on raw sockets: C connections, one request in flight per
 * connection, for D seconds (or a fixed request rate with --rps). Counts complete responses by
 * their content-length and prints JSON {requests, seconds, rps, p50, p90, p99}.
 * Usage: node bench/proxy/load.ts --port P [--connections 50] [--seconds 5] [--rps 0] [--path /]
 */
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    connections: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '5' },
    rps: { type: 'string', default: '0' },
    path: { type: 'string', default: '/' },
    warmup: { type: 'string', default: '1' },
  },
});
const port = Number(values.port);
const conns = Number(values.connections);
const seconds = Number(values.seconds);
const rps = Number(values.rps);
const warmup = Number(values.warmup);
const req = Buffer.from(
  `GET ${values.path} HTTP/1.1\r\nhost: bench.local\r\nuser-agent: mizzen-bench\r\naccept: */*\r\n\r\n`,
);

let measuring = false;
let done = 0;
const latencies: number[] = [];
const sockets: net.Socket[] = [];
let stopping = false;

class Conn {
  s: net.Socket;
  buf: Buffer = Buffer.alloc(0);
  sentAt = 0;
  busy = false;
  constructor() {
    this.s = net.connect(port, values.host);
    this.s.setNoDelay(true);
    this.s.on('connect', () => {
      if (rps === 0) this.send();
    });
    this.s.on('data', (d) => this.onData(d));
    this.s.on('error', (e) => {
      if (!stopping) console.error('socket error', e.message);
    });
    sockets.push(this.s);
  }
  send(): void {
    if (stopping) return;
    this.busy = true;
    this.sentAt = performance.now();
    this.s.write(req);
  }
  onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      const he = this.buf.indexOf('\r\n\r\n');
      if (he < 0) return;
      const head = this.buf.toString('latin1', 0, he);
      const m = /content-length:\s*(\d+)/i.exec(head);
      const len = m ? Number(m[1]) : 0;
      if (this.buf.length < he + 4 + len) return;
      this.buf = this.buf.subarray(he + 4 + len);
      this.busy = false;
      if (measuring) {
        done++;
        latencies.push(performance.now() - this.sentAt);
      }
      if (rps === 0) this.send();
      else idle.push(this);
    }
  }
}

const all: Conn[] = [];
const idle: Conn[] = [];
for (let i = 0; i < conns; i++) {
  const c = new Conn();
  all.push(c);
  if (rps > 0) c.s.on('connect', () => idle.push(c));
}

let ticker: NodeJS.Timeout | undefined;
if (rps > 0) {
  // Open loop at a fixed rate: one request every 1000/rps ms from an idle connection.
  const interval = 1000 / rps;
  let next = performance.now();
  ticker = setInterval(() => {
    const now = performance.now();
    while (next <= now) {
      const c = idle.pop();
      if (c) c.send();
      next += interval;
    }
  }, 1);
}

setTimeout(() => {
  measuring = true;
  const t0 = performance.now();
  setTimeout(() => {
    measuring = false;
    stopping = true;
    const secs = (performance.now() - t0) / 1000;
    if (ticker) clearInterval(ticker);
    latencies.sort((a, b) => a - b);
    const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
    console.log(
      JSON.stringify({
        requests: done,
        seconds: secs,
        rps: done / secs,
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
      }),
    );
    for (const s of sockets) s.destroy();
  }, seconds * 1000);
}, warmup * 1000);
