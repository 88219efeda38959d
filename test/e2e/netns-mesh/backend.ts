/**
 * Test backend run inside a pod namespace (as an unchanged application behind its sidecar):
 * answers every HTTP request with `{"name","version","path","headers"}`, or with 503 when
 * `FAIL=1`. It prints `ready` once listening and `hit <method> <path>` for every request it
 * receives, so a test counts the attempts that really reached it (retries included).
 *
 *   node backend.ts   (env: NAME, VERSION, PORT, FAIL)
 */
import http from 'node:http';

const name = process.env.NAME ?? 'backend';
const version = process.env.VERSION ?? 'v1';
const port = Number(process.env.PORT ?? 8080);
const fail = process.env.FAIL === '1';

const server = http.createServer((req, res) => {
  process.stdout.write(`hit ${req.method} ${req.url}\n`);
  const body = JSON.stringify({ name, version, path: req.url, headers: req.headers });
  res.writeHead(fail ? 503 : 200, { 'content-type': 'application/json' });
  res.end(body);
});
server.listen(port, '0.0.0.0', () => process.stdout.write('ready\n'));
// Exit with the supervisor: stdin closes when the test process goes away.
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
