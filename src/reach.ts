import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { REACH_TIMEOUT_MS } from './tunables.js';

// Lima's "Running" is read from pid files. Whether the instance answers is asked of the host agent
// itself (`GET /v1/info` on ha.sock, Lima's own API) and of the guest's SSH server, on the port the
// host agent names: it greets a connection with "SSH-2.0-…" before anything is sent to it.

export type Reach = { ok: true } | { ok: false; reason: string };

/** Undefined when there is no ha.sock to ask: Lima's answer was from a moment ago, and the host agent has gone since. */
export async function reach(instanceDir: string): Promise<Reach | undefined> {
  const socket = path.join(instanceDir, 'ha.sock');
  if (!existsSync(socket)) return undefined;
  let port: number;
  try {
    port = await sshPort(socket);
  } catch (err) {
    return { ok: false, reason: `its host agent does not answer on ${socket} (${(err as Error).message})` };
  }
  try {
    await greeting(port);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `the guest's SSH on 127.0.0.1:${port} does not answer (${(err as Error).message})` };
  }
}

function sshPort(socketPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get({ socketPath, path: '/v1/info', timeout: REACH_TIMEOUT_MS }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (d: string) => { body += d.slice(0, 4096); });
      response.on('end', () => {
        const port = (() => { try { return (JSON.parse(body) as { sshLocalPort?: unknown }).sshLocalPort; } catch { return undefined; } })();
        if (response.statusCode === 200 && typeof port === 'number') resolve(port);
        else reject(new Error(`it answered ${response.statusCode} without an SSH port`));
      });
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${REACH_TIMEOUT_MS / 1000} s`)));
    request.on('error', (err: NodeJS.ErrnoException) => reject(new Error(err.code ?? err.message)));
  });
}

function greeting(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, timeout: REACH_TIMEOUT_MS });
    let said = '';
    socket.setEncoding('utf8').on('data', (d: string) => {
      said += d;
      if (said.includes('\n') || said.length >= 8) socket.destroy(said.startsWith('SSH-') ? undefined : new Error('it does not greet as an SSH server'));
    });
    socket.on('timeout', () => socket.destroy(new Error(`silent for ${REACH_TIMEOUT_MS / 1000} s`)));
    socket.on('close', () => (said.startsWith('SSH-') ? resolve() : undefined));
    socket.on('error', (err: NodeJS.ErrnoException) => reject(new Error(err.code ?? err.message)));
    socket.on('end', () => reject(new Error('it closed the connection without a greeting')));
  });
}
