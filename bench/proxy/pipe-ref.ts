/**
 * Reference point for benchmarks: the simplest Node proxy, a bare socket.pipe() in both
 * directions with no parsing at all — what Node's stream layer costs per byte moved. It is not
 * a floor: a proxy that reads into its own buffers and writes through the socket handle
 * (src/proxy/network/write-buffer.ts) skips that layer and costs less.
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
