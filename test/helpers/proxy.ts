/** Pieces of the HTTP proxies tests put between a client and a server, to cut or alter answers. */
import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';

/**
 * Sends the first half of an upstream answer (by its Content-Length), then closes the connection
 * mid-body; the rest of the upstream answer is read and dropped, so the server sees a download that
 * went well. Returns the number of bytes sent.
 */
export function forwardHalf(up: IncomingMessage, res: ServerResponse): number {
  const half = Math.floor(Number(up.headers['content-length']) / 2);
  let sent = 0;
  up.on('data', (chunk: Buffer) => {
    if (sent >= half) return;
    const part = chunk.subarray(0, half - sent);
    sent += part.length;
    res.write(part);
    if (sent >= half) res.socket?.end();
  });
  return half;
}

/** Starts `server` on a loopback port, closed with the test; resolves to its port. */
export async function listenForTest(t: ExecutionContext, server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}
