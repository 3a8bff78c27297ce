// The types every layer shares. A leaf: it imports nothing of the program's own.

export type Condition = 'login' | 'boot';
export const CONDITIONS: readonly Condition[] = ['login', 'boot'];
export type Manager = 'launchd' | 'systemd';

export interface Instance {
  name: string;
  dir: string;
  limaHome: string;
}

export interface EnableRequest {
  instance: Instance;
  condition: Condition;
  keepAlive: boolean;
  /** The account the instance runs as at boot; undefined without --user. */
  user: string | undefined;
  now: boolean;
  limactl: string;
}

export interface DisableRequest {
  /** Only the name: an instance removed with `limactl delete` can still be unregistered. */
  instance: string;
  now: boolean;
}

/** A plan is plain data: `--dry-run` prints it, tests assert on it, apply executes it. */
export interface Plan {
  summary: string;
  steps: Step[];
  warnings: string[];
  done: string[];
  /** Why it cannot run here (no user manager): a real run stops before its first step, a dry run warns. */
  cannotRun?: { message: string; hint: string };
}

export type Step =
  | { kind: 'mkdir'; path: string }
  /** Written atomically; a Buffer is a saved file put back byte for byte, with its owner. */
  | { kind: 'write'; path: string; content: string | Buffer; mode: number; owner?: { uid: number; gid: number } }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'remove'; path: string }
  /** Only if empty: the undo of a mkdir. */
  | { kind: 'rmdir'; path: string }
  | RunStep;

export interface RunStep {
  kind: 'run';
  argv: string[];
  env?: Record<string, string>;
  /** Its stdin (else the terminal, where sudo asks for a password): a file's content root writes (`sudo tee`), never a path the user could swap. */
  input?: string | Buffer;
  /** Why a failure is expected and harmless: it is returned, not thrown, and the plan goes on. */
  mayFail?: string;
  /** Likely causes, appended to the error when it fails. */
  hint?: string;
  /** What puts things back if this succeeded and a later step fails (file steps need none). */
  undo?: Step[];
  /** The undo loads a job from its file: it runs after every file is back. */
  undoLast?: boolean;
  /** Exit codes that mean "not yet": tried again for up to `boundSec`. */
  retry?: { codes: number[]; boundSec: number; why: string };
  /** After it succeeded: wait until every check holds, for up to `boundSec`. */
  settle?: { checks: Check[]; boundSec: number };
}

/** A read-only command asked again until its answer says what is awaited. */
export interface Check {
  argv: string[];
  /** `fails`: a non-zero exit; `lacks`: the output does not contain the text. */
  until: 'fails' | { lacks: string };
  /** The awaited state, in words: "`launchctl print X` fails". */
  awaited: string;
  /** The state while it has not come: "launchd still knows X". */
  still: string;
}

/** A registration file in one of Lima's locations, as its name and place say before it is read. */
export interface Registration {
  instance: string;
  file: string;
  kind: 'LaunchAgent' | 'LaunchDaemon' | 'user unit';
  /** A plist's label, as the file name gives it. */
  label?: string;
  /** A unit's user lingers: a unit without this program's header then starts at boot. */
  lingering?: boolean;
}

/** This program's header in a file: its version and the options it was given. */
export interface GeneratedBy {
  version: string;
  condition: Condition;
  keepAlive: boolean;
}

/** What a registration file says: the one answer to each question about a file (src/files/registration.ts). */
export type ServiceFile = UnreadableFile | ReadableFile;

interface AnyFile {
  registration: Registration;
  condition: Condition;
  /** Set when only lingering says the condition (a unit without this program's header). */
  conditionFrom?: 'lingering';
  header: GeneratedBy | undefined;
}

export interface UnreadableFile extends AnyFile {
  /** Why it cannot be used: "it is not a property list that can be read (…)". */
  unreadable: string;
  /** The error underneath, after "cannot read FILE: ". */
  cause: string;
  /** False when it could not even be opened (a daemon only root may read). */
  opened: boolean;
}

export interface ReadableFile extends AnyFile {
  unreadable?: undefined;
  writtenBy: 'limactl-autostart' | 'lima' | 'hand';
  keepAlive: boolean;
  /** 'unsaid': neither KeepAlive nor Restart= nor a header. */
  keepAliveFrom: 'header' | 'settings' | 'unsaid';
  program: string | undefined;
  limaHome: string | undefined;
  searchPath: string | undefined;
  userName: string | undefined;
  /** A plist's StandardOutPath and StandardErrorPath, absolute. */
  logFiles: string[];
  text: string;
  /** How it differs from what this program writes, beyond the values it replaces on purpose. */
  differences: string[];
}

/** What the service manager says of a job, in the same words on both platforms. */
export type ServiceState = 'running' | 'restarting' | 'loaded' | 'not-loaded' | 'failed' | 'start-limit-hit' | 'unknown';

export interface Place {
  /** launchd: the domain target (gui/501/LABEL); systemd: the unit name. */
  service: string;
  /** What Lima records as autoStartedIdentifier: the launchd label or the unit name. */
  label: string;
  domain: 'gui' | 'user' | 'system' | 'user-manager';
}

export interface Job extends Place {
  state: ServiceState;
  pid: number | null;
  /** The last exit code; launchd gives a signal as its negative number. */
  lastExitCode: number | null;
  killed: boolean;
}

/** What the files and the service manager say of one instance: what status diagnoses. */
export interface Facts {
  instance: string;
  manager: Manager;
  /** Its registration files that exist, as read: the deciding one first (a daemon before an agent). */
  files: ServiceFile[];
  /** The jobs loaded for it (launchd: in every domain; systemd: the unit, when known). */
  jobs: Job[];
  service: Place;
  /** The last line in which the service's script said that the VM stopped on its own, and keep-alive restarts it. */
  vmStopped?: string;
  /** launchd, a boot registration: what would keep the Mac from starting the instance unattended. */
  unattended?: { fileVault: boolean; vmnet: string | undefined };
  /** launchd: when the deciding file was last written (ms since the epoch): loaded at the next login or boot after that. */
  writtenAt?: number;
  daemonFile?: { uid: number; mode: number };
  /** systemd: its LoadState and UnitFileState. */
  unit?: { loadState: string; fileState: string };
  lingering?: boolean;
}

export interface Problem {
  problem: string;
  /** A command that fixes it, ready to paste. */
  fix: string;
}

/** What Lima says of an instance (`limactl list --json`). */
export interface LimaView {
  status: string | null;
  hostAgentPID: number | null;
  /** Lima says its launchd job or unit started it; null when Lima did not answer. */
  startedByService: boolean | null;
  /** Whether an instance Lima says is Running answers (its host agent, then the guest's SSH); null when not asked. */
  reachable: { ok: true } | { ok: false; reason: string } | null;
}

export interface StatusRow extends Pick<Job, 'service' | 'state' | 'pid' | 'lastExitCode'> {
  instance: string;
  condition: Condition | 'none';
  keepAlive: boolean | null;
  file: string | null;
  writtenBy: ReadableFile['writtenBy'] | null;
  manager: Manager;
  problems: Problem[];
  /** Worth knowing, needing no fix: a restart by keep-alive after a SIGKILL. */
  notes: string[];
  lima: LimaView;
}

/** Where an instance's service logs: files to show, and a command whose output comes first. */
export interface LogSource {
  files: string[];
  command?: string[];
  registered: boolean;
  notes: string[];
}

/** One service manager. Backends read the disk and ask read-only questions; they change nothing. */
export interface Backend {
  readonly manager: Manager;
  /** When a file rewritten without --now takes effect, said after `migrate`. */
  readonly rewriteTakesEffect: string;
  planEnable(request: EnableRequest): Promise<Plan>;
  planDisable(request: DisableRequest): Promise<Plan>;
  /** Every registration file in Lima's locations, whether or not LIMA_HOME still holds its instance. */
  registrations(): Registration[];
  read(registration: Registration): ServiceFile;
  /** A fixed number of questions to the service manager, however many instances. */
  facts(instances: string[]): Promise<Facts[]>;
  /** The locks a change of the instance takes, in order: each file, and what it guards in words. */
  locks(instance: string): { file: string; what: string }[];
  logs(instance: string, lines: number, follow: boolean): LogSource;
}
