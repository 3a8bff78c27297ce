/**
 * The types every layer shares: the requests, the plan, the backend interface, a status row, and
 * what a registration file says. A leaf: it imports nothing of the program's own, so every other
 * module can import it without making a cycle.
 */

export type Condition = 'login' | 'boot';
export const CONDITIONS: readonly Condition[] = ['login', 'boot'];

export interface Instance {
  name: string;
  dir: string;
  limaHome: string;
}

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

/**
 * A plan is plain data: `--dry-run` prints it, tests assert on it, apply executes it.
 * Nothing outside apply() writes service files or runs service-manager commands.
 */
export type Step =
  | { kind: 'mkdir'; path: string }
  /** Written atomically (temporary file in the same directory, then rename). `temporary`
   *  files are staging copies for a privileged install and are removed when apply ends.
   *  A Buffer is a saved file restored byte for byte (it may be a binary plist), with its
   *  owner. No file is ever written writable by its group or others, nor set-id. */
  | { kind: 'write'; path: string; content: string | Buffer; mode: number; temporary?: boolean; owner?: { uid: number; gid: number } }
  /** A symbolic link put back as it was (the undo of replacing or removing one). */
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'remove'; path: string }
  /** Removes a directory if it is empty (the undo of a mkdir); a directory with files stays. */
  | { kind: 'rmdir'; path: string }
  | RunStep;

export interface RunStep {
  kind: 'run';
  argv: string[];
  env?: Record<string, string>;
  /** Why a failure is expected and harmless: the plan goes on. */
  mayFail?: string;
  /** Likely causes, added to the error when the command fails. */
  hint?: string;
  /**
   * What puts things back if this command succeeded and a later step fails. The file steps
   * (mkdir, write, remove) need none: apply saves what they replace.
   */
  undo?: Step[];
  /**
   * The undo loads a job from its file (launchctl bootstrap, systemctl start): it runs after
   * every file is back, or it would load the new file instead of the old one.
   */
  undoLast?: boolean;
  /**
   * launchd's bootout returns before the job is gone and before its host agent has stopped the
   * VM: after this command succeeded, wait until both are true (see src/settle.ts).
   */
  settle?: Settle;
  /** Exit codes that mean "not yet" (launchd still tearing a job down): the command is tried again, a bounded number of times. */
  retryOn?: number[];
}

/** What a bootout waits for: launchd no longer knows `target`, and Lima no longer reports `instance` Running. */
export interface Settle {
  target: string;
  instance: string;
  limactl: string;
}

export interface Plan {
  /** One line, e.g. `enable "default" at login (launchd, keep-alive true)`. */
  summary: string;
  steps: Step[];
  /** Said on stderr before the plan runs (or is printed): what the user should know. */
  warnings: string[];
  /** Said on stderr after the plan ran. */
  done: string[];
  /**
   * Why the plan cannot run on this host (no systemd user manager answers): a real run stops with
   * this error before its first step; --dry-run prints the plan, after this as a warning.
   */
  cannotRun?: CannotRun;
}

export interface CannotRun {
  message: string;
  /** What to do. */
  hint: string;
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
  /**
   * What is worth knowing but needs no fix: something that went wrong and was put right, such as
   * a restart by keep-alive after a SIGKILL.
   */
  notes: string[];
}

/** What Lima says of the instance of a status row (`limactl list --json`). */
export interface LimaView {
  /** Lima's word (Running, Stopped, Broken, …); null when Lima did not answer or does not list the instance. */
  status: string | null;
  hostAgentPID: number | null;
  /** Lima says its launchd job or systemd unit started it; null when Lima did not answer. */
  startedByService: boolean | null;
}

/** A status row with Lima's view joined in: what `status` prints. */
export interface InstanceStatus extends StatusRow {
  lima: LimaView;
}

/** One service manager. Backends read the disk and ask read-only questions; they change nothing. */
export interface Backend {
  readonly manager: 'launchd' | 'systemd';
  planEnable(request: EnableRequest): Promise<Plan>;
  planDisable(request: DisableRequest): Promise<Plan>;
  /**
   * Every registration file in Lima's locations, whether or not LIMA_HOME still holds its
   * instance: what `status` lists and what `migrate` rewrites.
   */
  registrations(): Registration[];
  /** One row per name, asking the service manager a fixed number of questions however many there are. */
  status(instances: string[]): Promise<StatusRow[]>;
}

/**
 * A registration file in one of Lima's locations, as its name and place say before it is read:
 * a launchd plist (its label; a LaunchDaemon registers for boot, a LaunchAgent for login), or a
 * systemd user unit (the same file for both conditions: without this program's header, lingering
 * decides, because the user manager of a lingering user starts at boot).
 */
export type Registration = PlistRegistration | UnitRegistration;

export interface PlistRegistration {
  format: 'plist';
  kind: 'LaunchAgent' | 'LaunchDaemon';
  /** The instance name as the file name gives it (not yet checked against Lima's rule). */
  instance: string;
  file: string;
  /** The label the file must have. */
  label: string;
}

export interface UnitRegistration {
  format: 'unit';
  kind: 'user unit';
  instance: string;
  file: string;
  /** Whether the user lingers: a unit without this program's header then starts at boot. */
  lingering: boolean;
}

/** The header this program writes into every file: its version and the options it was given. */
export interface GeneratedBy {
  version: string;
  condition: Condition;
  keepAlive: boolean;
}

/**
 * What a registration file says: the one answer to each question status, migrate, enable and
 * disable ask of a file (src/registration.ts reads it).
 */
export type ServiceFile = UnreadableFile | ReadableFile;

interface AnyFile {
  registration: Registration;
  /** The condition it registers the instance for. */
  condition: Condition;
  /** Set when the file itself does not say the condition (a unit without our header). */
  conditionFrom?: 'lingering';
  /** This program's header, when the file has one (even one that is no longer a plist or a unit). */
  header: GeneratedBy | undefined;
}

export interface UnreadableFile extends AnyFile {
  /** Why it cannot be used, as migrate says it: "it is not a property list that can be read (…)". */
  unreadable: string;
  /** The error underneath, as status says it after "cannot read FILE: ". */
  cause: string;
  /** False when the file could not even be opened (a LaunchDaemon only root may read, say). */
  opened: boolean;
}

export interface ReadableFile extends AnyFile {
  unreadable?: undefined;
  /**
   * Who wrote it: this program (its header); else Lima, when it has nothing Lima's templates do
   * not write; else someone by hand (settings of their own, see `problems`, or an environment).
   */
  writtenBy: 'limactl-autostart' | 'lima' | 'hand';
  /** Restarted after a crash (see keepAliveOf in src/registration.ts for the rule). */
  keepAlive: boolean;
  /** Where keepAlive comes from; 'unsaid': the file sets neither KeepAlive nor Restart=, and has no header. */
  keepAliveFrom: 'header' | 'settings' | 'unsaid';
  /** The program the service runs (limactl), when it can be told. */
  program: string | undefined;
  /** The LIMA_HOME in the service's environment; undefined when it sets none (limactl then uses ~/.lima). */
  limaHome: string | undefined;
  /** The PATH in the service's environment. */
  searchPath: string | undefined;
  /** A LaunchDaemon's UserName. */
  userName: string | undefined;
  /** A plist's StandardOutPath and StandardErrorPath, absolute and once each; none for a unit (its output goes to the journal). */
  logFiles: string[];
  /** The file as read, to tell one that is exactly what this program would write. */
  text: string;
  /**
   * What would be lost, or change in meaning, if the file were written again by this program
   * (not counting PATH: see rewriteLoses); empty when nothing.
   */
  problems: string[];
}
