/**
 * A WebSocket client for the echo (curl has no WebSocket support on most machines):
 *
 *   npx node samples/ws-echo/client.ts ws://HOST:PORT/PATH [MESSAGE ...]
 *
 * Sends each MESSAGE (default `hello`) as a text frame, prints each echo on its own line,
 * closes with 1000 and exits 0 (1 on an error, a refused upgrade or after 10 s). Uses the
 * WebSocket client built into Node.
 */
const [url, ...messages] = process.argv.slice(2);
if (!url || !/^wss?:\/\//.test(url)) {
  process.stderr.write('usage: client.ts ws://HOST:PORT/PATH [MESSAGE ...]\n');
  process.exit(2);
}
const toSend = messages.length ? messages : ['hello'];
const ws = new WebSocket(url);
const timer = setTimeout(() => {
  process.stderr.write('ws-echo client: no complete echo within 10 s\n');
  process.exit(1);
}, 10_000);
let received = 0;
ws.addEventListener('open', () => {
  for (const m of toSend) ws.send(m);
});
ws.addEventListener('message', (e) => {
  process.stdout.write(`${String(e.data)}\n`);
  if (++received === toSend.length) ws.close(1000);
});
ws.addEventListener('error', () => {
  process.stderr.write(`ws-echo client: could not talk WebSocket to ${url}\n`);
  process.exit(1);
});
ws.addEventListener('close', () => {
  clearTimeout(timer);
  process.exitCode = received === toSend.length ? 0 : 1;
});
