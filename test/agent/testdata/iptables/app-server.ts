/**
 * Test workload for the capture e2e: listens on each port (dual-stack `::`) and answers every
 * connection with `app:<port>@<name>` and closes. Prints "ready" once listening.
 * Usage: node app-server.ts '{"name":"server","ports":[8080,9000]}'
 */
import { createServer } from 'node:net';

const { name, ports } = JSON.parse(process.argv[2]) as { name: string; ports: number[] };
let listening = 0;
for (const port of ports) {
  createServer((socket) => socket.end(`app:${port}@${name}\n`)).listen(port, '::', () => {
    if (++listening === ports.length) console.log('ready');
  });
}
