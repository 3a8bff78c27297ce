import type { Host } from '../host.js';
import type { Backend } from '../model.js';

export async function backendFor(host: Host): Promise<Backend> {
  // Loaded on demand: each platform needs only its own backend.
  if (host.platform === 'darwin') {
    const { LaunchdBackend } = await import('./launchd.js');
    return new LaunchdBackend(host);
  }
  const { SystemdBackend } = await import('./systemd.js');
  return new SystemdBackend(host);
}
