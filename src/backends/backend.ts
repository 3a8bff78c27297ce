import type { Host } from '../host.js';
import type { Instance } from '../instance.js';
import type { Plan } from '../plan.js';
import type { FoundRegistration } from '../registration.js';

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
  /** Every registration file in Lima's locations, for every instance (`migrate`). */
  findRegistrations(): Promise<FoundRegistration[]>;
}

export async function backendFor(host: Host): Promise<Backend> {
  // Loaded on demand: each platform needs only its own backend.
  if (host.platform === 'darwin') {
    const { LaunchdBackend } = await import('./launchd.js');
    return new LaunchdBackend(host);
  }
  const { SystemdBackend } = await import('./systemd.js');
  return new SystemdBackend(host);
}
