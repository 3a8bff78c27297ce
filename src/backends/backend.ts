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

/** What the service manager says of a job: the same words on both platforms. */
export type ServiceState = 'running' | 'restarting' | 'loaded' | 'not-loaded' | 'failed' | 'start-limit-hit' | 'unknown';

export interface Problem {
  problem: string;
  /** A command that fixes it, ready to paste. */
  fix: string;
}

/** One row of `status`: one instance. */
export interface StatusRow {
  instance: string;
  condition: Condition | 'none';
  keepAlive: boolean | null;
  file: string | null;
  manager: 'launchd' | 'systemd';
  /** launchd: the domain target (gui/501/io.lima-vm.autostart.x); systemd: the unit name. */
  service: string;
  state: ServiceState;
  pid: number | null;
  lastExitCode: number | null;
  problems: Problem[];
}

/** One service manager. Backends read the disk and ask read-only questions; they change nothing. */
export interface Backend {
  readonly manager: 'launchd' | 'systemd';
  planEnable(request: EnableRequest): Promise<Plan>;
  planDisable(request: DisableRequest): Promise<Plan>;
  /** Instances that have a file in Lima's locations, whether or not LIMA_HOME still holds them. */
  registeredInstances(): string[];
  /** One row per name, asking the service manager a fixed number of questions however many there are. */
  status(instances: string[]): Promise<StatusRow[]>;
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
