/**
 * A TCP client for the echo (the demo prints it because `nc` is not always installed):
 *
 *   npx node samples/tcp-echo/client.ts HOST:PORT [LINE ...]
 *
 * Sends each LINE (default `hello`) on one connection, half-closes, prints every line that
 * comes back, and exits 0 when the server ends the connection (1 on an error or after 10 s).
 */
import { connect } from 'node:net';

const [target, ...lines] = process.argv.slice(2);
const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target ?? '');
if (!m) {
  process.stderr.write('usage: client.ts HOST:PORT [LINE ...]\n');
  process.exit(2);
}
const socket = connect({ host: m[1], port: Number(m[2]) });
const timer = setTimeout(() => {
  process.stderr.write('tcp-echo client: no end of reply within 10 s\n');
  process.exit(1);
}, 10_000);
socket.setEncoding('utf8');
socket.on('connect', () => socket.end(`${(lines.length ? lines : ['hello']).join('\n')}\n`));
socket.on('data', (d: string) => process.stdout.write(d));
socket.on('error', (err) => {
  process.stderr.write(`tcp-echo client: ${err.message}\n`);
  process.exit(1);
});
socket.on('close', () => clearTimeout(timer));
