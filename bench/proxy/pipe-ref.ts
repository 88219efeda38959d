/**
 * Reference point for benchmarks: the cheapest possible Node proxy, a bare socket.pipe() in
 * both directions with no parsing at all. Any Node HTTP proxy costs at least this much.
 * Usage: node bench/proxy/pipe-ref.ts UPSTREAM_PORT  (prints its own port)
 */
import net from 'node:net';

const upstreamPort = Number(process.argv[2]);
const server = net.createServer((client) => {
  const upstream = net.connect(upstreamPort, '127.0.0.1');
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.listen(0, '127.0.0.1', () => console.log((server.address() as net.AddressInfo).port));
process.on('SIGTERM', () => process.exit(0));
