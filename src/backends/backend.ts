import type { Host } from '../host.js';
import type { Instance } from '../instance.js';
import type { Plan } from '../plan.js';
import { UserError } from '../errors.js';

export type Condition = 'login' | 'boot';
export const CONDITIONS: readonly Condition[] = ['login', 'boot'];

export interface EnableRequest {
  instance: Instance;
  condition: Condition;
  keepAlive: boolean;
  /** The account the instance runs as at boot; undefined when --user was not given. */
  user: string | undefined;
  now: boolean;
  limactl: string;
}

export interface DisableRequest {
  /** Only the name is needed: an instance deleted with `limactl delete` can still be unregistered. */
  instanceName: string;
  now: boolean;
}

/** One service manager. Backends read the disk and ask read-only questions; they change nothing. */
export interface Backend {
  readonly manager: 'launchd' | 'systemd';
  planEnable(request: EnableRequest): Promise<Plan>;
  planDisable(request: DisableRequest): Promise<Plan>;
}

export async function backendFor(host: Host): Promise<Backend> {
  // Under sudo, HOME, USER and the service manager are root's: a LaunchAgent would land in root's
  // domain, a user unit in root's manager, and Lima refuses to run as root anyway. The program
  // asks for sudo itself, for the few fixed commands that need it.
  if (host.env.SUDO_USER && host.uid === 0) {
    throw new UserError(
      `limactl-autostart is running under sudo (for ${host.env.SUDO_USER}); it must run as the user who owns the instance`,
      'Run it again without sudo. It runs `sudo` itself for the commands that need root (a LaunchDaemon), and loginctl for lingering.',
    );
  }
  // Loaded on demand: each platform needs only its own backend.
  if (host.platform === 'darwin') {
    const { LaunchdBackend } = await import('./launchd.js');
    return new LaunchdBackend(host);
  }
  const { SystemdBackend } = await import('./systemd.js');
  return new SystemdBackend(host);
}
