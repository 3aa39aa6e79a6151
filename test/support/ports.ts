// Test support: loopback ports. Every test, fixture and benchmark that needs a port,
// or a server on one, goes through here (node built-ins only).
import net from 'node:net';

const HOST = '127.0.0.1';

/** Starts `server` listening on 127.0.0.1:`port` (0: the OS picks one); resolves with the port, rejects on a listen error (EADDRINUSE...). */
export function listen(server: net.Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, HOST, () => {
      server.off('error', onError);
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('listen: unexpected server address'));
        return;
      }
      resolve(address.port);
    });
  });
}

/** Closes `server`; resolves once it no longer listens (a server that never listened resolves too). */
export function close(server: net.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => {
      if (err === undefined || (err as NodeJS.ErrnoException).code === 'ERR_SERVER_NOT_RUNNING') resolve();
      else reject(err);
    });
  });
}

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.unref();
  const port = await listen(server);
  await close(server);
  return port;
}

/** Whether a server can listen on 127.0.0.1:`port` now. */
export async function listenable(port: number): Promise<boolean> {
  const server = net.createServer();
  try {
    await listen(server, port);
  } catch {
    return false;
  }
  await close(server);
  return true;
}

/** Occupies 127.0.0.1:`port` (so whatever tries it next gets EADDRINUSE) until `release()`. */
export async function holdPort(port: number): Promise<{ release(): Promise<void> }> {
  const server = net.createServer();
  await listen(server, port);
  return { release: () => close(server) };
}
