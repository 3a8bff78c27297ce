import { existsSync, lstatSync } from 'node:fs';
import { listDir } from '../list-dir.js';
import { present } from '../file-type.js';
import path from 'node:path';
import type { Backend, CannotRun, Condition, DisableRequest, EnableRequest, Plan, Problem, Registration, ServiceState, StatusRow, Step, RunStep, UnitRegistration } from '../model.js';
import { type Host, systemPath } from '../host.js';
import { probe, run, type RunResult } from '../exec.js';
import { render } from '../render.js';
import { headerLine } from '../header.js';
import { listRegistrations, readServiceFile, replacedNote } from '../registration.js';
import { serviceCommand, serviceEnvironment, servicePath } from '../service-env.js';
import { SYSTEMD_RESTART_SEC, SYSTEMD_START_LIMIT_BURST, SYSTEMD_START_LIMIT_INTERVAL_SEC, STOP_TIMEOUT_SEC } from '../tunables.js';
import { CommandError, UsageError, UserError, formatArgv } from '../errors.js';
import { validateUnit } from '../unit-file.js';
import { fileProblems, logHint, sigkillNote } from '../problems.js';

// Lima's own unit name: Lima's `limactl start`/`stop` look for exactly this.
export const unitName = (instance: string): string => `lima-vm@${instance}.service`;
const UNIT_FILE = /^lima-vm@(.+)\.service$/;

const BUS_HINT = 'If systemctl says "Failed to connect to bus", the user manager is not reachable: run this as the user who owns the instance (not under sudo or su), from a login session, or check that /run/user/<uid> exists (`loginctl enable-linger` keeps it).';

/** No user manager answered `argv`: what enable, disable and status say before they change or show anything. */
function noManager(argv: string[], out: RunResult, uid: number): CannotRun {
  return {
    message: `no systemd user manager answers: ${new CommandError(argv, out.exitCode, out.stderr).message}`,
    hint: [
      'A registration is a systemd user unit, and the user manager (`systemd --user`) is what starts it.',
      `Run this as the user who owns the instance, from a login session (not under sudo or su), and check that /run/user/${uid} exists (\`loginctl enable-linger "$USER"\` keeps it).`,
      'On WSL, turn systemd on: `systemd=true` under `[boot]` in /etc/wsl.conf, then `wsl --shutdown`.',
      'Where systemd does not run (a container, a minimal host), nothing can start the instance at login or boot: start it with `limactl start`.',
    ].join('\n'),
  };
}

/** A unit file as status reads it, before systemd's answer is known. */
interface UnitFileView {
  condition: Condition | 'none';
  keepAlive: boolean | null;
  /** Problems of the file itself: its reading, its contents. */
  problems: Problem[];
  /** A boot unit while lingering is off. */
  lingerOff: boolean;
}

export class SystemdBackend implements Backend {
  readonly manager = 'systemd' as const;

  constructor(private readonly host: Host) {}

  private get unitDir(): string {
    return path.join(this.host.xdgConfigHome, 'systemd', 'user');
  }

  private unitPath(instance: string): string {
    return path.join(this.unitDir, unitName(instance));
  }

  /** Where we note that lingering was turned on by us, so that only we turn it off again. */
  private get lingerMarker(): string {
    return path.join(this.host.xdgStateHome, 'limactl-autostart', 'linger');
  }

  private lingering(): boolean {
    return existsSync(systemPath(this.host, 'var', 'lib', 'systemd', 'linger', this.host.user));
  }

  /** cron, su and some SSH setups leave XDG_RUNTIME_DIR unset, and systemctl --user then
   *  cannot find the bus; /run/user/<uid> is where logind puts it. */
  private get busEnv(): Record<string, string> | undefined {
    return this.host.env.XDG_RUNTIME_DIR ? undefined : { XDG_RUNTIME_DIR: `/run/user/${this.host.uid}` };
  }

  private systemctl(...args: string[]): RunStep {
    const env = this.busEnv;
    return { kind: 'run', argv: ['systemctl', '--user', ...args], ...(env ? { env } : {}), hint: BUS_HINT };
  }

  /** A systemctl step that, if a later step fails, is undone by another systemctl call. */
  private reversible(args: string[], undo: string[] | undefined, undoLast = false): RunStep {
    return { ...this.systemctl(...args), ...(undo ? { undo: [this.systemctl(...undo)], undoLast } : {}) };
  }

  /**
   * Whether `systemctl --user` reaches a user manager. WSL without systemd, containers and minimal
   * hosts have systemctl but no manager, and every plan runs at least `daemon-reload`, which needs
   * one: asked once per plan, before any step (as Lima's own autostart checks that systemd runs).
   */
  private async managerMissing(): Promise<CannotRun | undefined> {
    const argv = ['systemctl', '--user', 'show-environment'];
    const out = await run(argv, { env: this.busEnv, mayFail: 'no manager is an answer', noInput: true });
    return out.exitCode === 0 ? undefined : noManager(argv, out, this.host.uid);
  }

  private isActive(instance: string): Promise<boolean> {
    return probe(['systemctl', '--user', 'is-active', '--quiet', unitName(instance)], this.busEnv);
  }

  /** Enabled means linked from some target's .wants (or .requires) directory, as systemctl does it. */
  private isEnabled(instance: string): boolean {
    return listDir(this.unitDir).some((dir) => /\.(wants|requires)$/.test(dir) && isLink(path.join(this.unitDir, dir, unitName(instance))));
  }

  private registration(instance: string): UnitRegistration {
    return { format: 'unit', kind: 'user unit', instance, file: this.unitPath(instance), lingering: this.lingering() };
  }

  /** The condition this program registered the unit for; 'foreign' for a unit it did not write. */
  private existingCondition(instance: string): Condition | 'foreign' | undefined {
    if (!present(this.unitPath(instance))) return undefined;
    return readServiceFile(this.registration(instance)).header?.condition ?? 'foreign';
  }

  /** Other instances whose units we registered for boot: they still need lingering. */
  private otherBootInstances(instance: string): string[] {
    return this.registrations()
      .filter((r) => r.instance !== instance)
      .filter((r) => readServiceFile(r).header?.condition === 'boot')
      .map((r) => r.instance);
  }

  async planEnable(request: EnableRequest): Promise<Plan> {
    const name = request.instance.name;
    const user = this.host.user;
    if (request.user !== undefined && request.user !== user) {
      throw new UsageError(
        `--user ${request.user}: on Linux the instance runs in the systemd user manager of the user who enables it (${user})`,
        `Run limactl-autostart as ${request.user}, or leave out --user.`,
      );
    }
    // systemd refuses an ExecStart= program path holding a quote or a backslash, however it is
    // quoted ("Executable name contains special characters"); arguments and values may hold them.
    if (/["'\\]/.test(request.limactl)) {
      throw new UserError(
        `systemd cannot run limactl from ${JSON.stringify(request.limactl)}: it refuses a program path that contains a quote or a backslash`,
        'Put a symbolic link to limactl in a directory without those characters, first on PATH (for example ~/.local/bin), and enable again.',
      );
    }
    const cannotRun = await this.managerMissing();
    const previous = this.existingCondition(name);
    const file = this.unitPath(name);
    const command = serviceCommand(request.limactl, name);
    const environment = serviceEnvironment(this.host, request.limactl);
    const content = render('lima-vm@INSTANCE.service', {
      header: headerLine(request.condition, request.keepAlive),
      instance: name,
      unitName: unitName(name),
      command,
      workingDirectory: request.instance.dir,
      environment,
      keepAlive: request.keepAlive,
      restartSec: SYSTEMD_RESTART_SEC,
      startLimitBurst: SYSTEMD_START_LIMIT_BURST,
      startLimitIntervalSec: SYSTEMD_START_LIMIT_INTERVAL_SEC,
      timeoutStopSec: STOP_TIMEOUT_SEC,
    });
    validateUnit(content, { execStart: command, workingDirectory: request.instance.dir, environment });

    const done: string[] = [];
    if (previous !== undefined) {
      const note = replacedNote(this.registration(name), servicePath(this.host, request.limactl));
      if (note) done.push(note);
    }
    const steps: Step[] = [
      { kind: 'mkdir', path: this.unitDir },
      { kind: 'write', path: file, content, mode: 0o644 },
      // Undone after the old file is back, so that systemd reads the old one again.
      this.reversible(['daemon-reload'], ['daemon-reload'], true),
      previous === 'foreign'
        // A unit this program did not write may have been enabled into other targets (Lima up to
        // 1.0.1 wrote WantedBy=multi-user.target, a target the user manager does not have):
        // reenable removes every link to the unit and makes the new [Install] links, in one call,
        // without stopping a running unit. Its undo, once the old file is back, makes the old
        // file's links again.
        ? this.reversible(['reenable', unitName(name)], [this.isEnabled(name) ? 'reenable' : 'disable', unitName(name)], true)
        : this.reversible(['enable', unitName(name)], this.isEnabled(name) ? undefined : ['disable', unitName(name)]),
    ];
    const warnings: string[] = [];
    if (request.condition === 'boot') {
      steps.push(...this.holdLinger(done));
    } else if (previous === 'boot') {
      steps.push(...this.releaseLinger(name, done));
    }
    if (request.now) {
      // A unit that hit its start limit refuses even a manual start until reset-failed.
      steps.push(
        { ...this.systemctl('reset-failed', unitName(name)), mayFail: 'the unit may not have failed' },
        this.reversible(['start', unitName(name)], (await this.isActive(name)) ? undefined : ['stop', unitName(name)]),
      );
    }
    const when = request.condition === 'boot' ? `at boot (lingering on for ${user})` : 'at login';
    done.push(`instance "${name}" starts ${when}: ${file}`);
    return { summary: `enable "${name}" at ${request.condition} (systemd, keep-alive ${request.keepAlive})`, steps, warnings, done, ...(cannotRun ? { cannotRun } : {}) };
  }

  async planDisable(request: DisableRequest): Promise<Plan> {
    const name = request.instanceName;
    const previous = this.existingCondition(name);
    const summary = `disable "${name}" (systemd)`;
    if (previous === undefined) return { summary, steps: [], warnings: [], done: [] };
    // Even without --now: `systemctl --user disable` and `daemon-reload` need the manager.
    const cannotRun = await this.managerMissing();
    const steps: Step[] = [];
    const done: string[] = [];
    if (request.now) steps.push(this.reversible(['stop', unitName(name)], (await this.isActive(name)) ? ['start', unitName(name)] : undefined, true));
    steps.push(
      // disable before the file goes: it reads [Install] to know which links to remove.
      this.reversible(['disable', unitName(name)], this.isEnabled(name) ? ['enable', unitName(name)] : undefined),
      { kind: 'remove', path: this.unitPath(name) },
      this.reversible(['daemon-reload'], ['daemon-reload'], true),
    );
    if (previous === 'boot') steps.push(...this.releaseLinger(name, done));
    done.push(`removed ${this.unitPath(name)}`);
    if (!request.now) done.push('a running instance keeps running; add --now to stop it now');
    return { summary, steps, warnings: [], done, ...(cannotRun ? { cannotRun } : {}) };
  }

  registrations(): Registration[] {
    const lingering = this.lingering();
    return listRegistrations(this.unitDir, UNIT_FILE, (instance, file) => ({ format: 'unit', kind: 'user unit', instance, file, lingering }));
  }

  async status(instances: string[]): Promise<StatusRow[]> {
    // The files are read while systemctl answers: it runs as a process of its own.
    const answered = this.showUnits(instances.map(unitName));
    const files = instances.map((name) => this.unitFileView(name));
    const units = await answered;
    return instances.map((name, i) => this.statusOf(name, files[i]!, units.get(unitName(name))));
  }

  /**
   * One `systemctl --user show` for every unit, however many there are; asked with none too, when
   * it shows the manager: a failure means that no user manager answers, and status says so.
   */
  private async showUnits(names: string[]): Promise<Map<string, Map<string, string>>> {
    const units = new Map<string, Map<string, string>>();
    const argv = ['systemctl', '--user', 'show', `--property=${SHOW_PROPERTIES.join(',')}`, '--', ...names];
    const out = await run(argv, { env: this.busEnv, mayFail: 'said as no manager', noInput: true });
    if (out.exitCode !== 0) {
      const { message, hint } = noManager(argv, out, this.host.uid);
      throw new UserError(message, hint);
    }
    for (const block of out.stdout.split(/\n\s*\n/)) {
      const props = new Map<string, string>();
      for (const line of block.split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) props.set(line.slice(0, eq), line.slice(eq + 1));
      }
      const id = props.get('Id');
      if (id) units.set(id, props);
    }
    return units;
  }

  /** What the unit file says, and what is wrong with it, without asking systemd. */
  private unitFileView(name: string): UnitFileView {
    const none: UnitFileView = { condition: 'none', keepAlive: null, problems: [], lingerOff: false };
    if (!present(this.unitPath(name))) return none;
    const registration = this.registration(name);
    const read = readServiceFile(registration);
    // Removed between the look and the read (a `disable` running meanwhile): not registered.
    if (read.unreadable !== undefined && !present(this.unitPath(name))) return none;
    return {
      condition: read.condition,
      keepAlive: read.unreadable === undefined ? read.keepAlive : null,
      problems: fileProblems(this.host, read),
      lingerOff: read.condition === 'boot' && !registration.lingering,
    };
  }

  private statusOf(name: string, view: UnitFileView, props: Map<string, string> | undefined): StatusRow {
    const file = this.unitPath(name);
    const unit = unitName(name);
    const { condition, keepAlive } = view;
    const problems: Problem[] = [...view.problems];
    if (condition !== 'none') {
      if (props?.get('LoadState') === 'not-found') {
        problems.push({ problem: 'systemd has not read the unit file yet', fix: 'systemctl --user daemon-reload' });
      } else if (props && props.get('UnitFileState') !== 'enabled') {
        problems.push({ problem: `the unit is ${props.get('UnitFileState') || 'not enabled'}: it will not start at ${condition}`, fix: `systemctl --user enable ${unit}` });
      }
      if (view.lingerOff) {
        problems.push({ problem: `lingering is off for ${this.host.user}: the user manager, and the instance, start only at login`, fix: `loginctl enable-linger ${this.host.user}` });
      }
    }
    const state = unitState(props, keepAlive === true);
    const pid = Number(props?.get('MainPID') ?? 0) || null;
    const exit = Number(props?.get('ExecMainStatus') ?? 0) || null;
    // systemd keeps how the main process ended only until it starts the unit again: while it waits
    // RestartSec (restarting), or after it gave up. ExecMainCode 2 is CLD_KILLED: ended by a signal.
    const killed = props?.get('ExecMainCode') === String(CLD_KILLED) && exit === SIGKILL;
    const notes = keepAlive && killed && state === 'restarting' ? [sigkillNote('systemd', name, false)] : [];
    if (condition === 'none' && (state === 'running' || state === 'restarting')) {
      problems.push({ problem: `${unit} is running but has no unit file: it will not start again`, fix: formatArgv(['limactl-autostart', 'disable', name, '--now']) });
    }
    if (state === 'start-limit-hit') {
      problems.push({ problem: `systemd gave up restarting it (start limit hit; last exit code ${exit ?? 'unknown'}); ${logHint(name)}`, fix: `systemctl --user reset-failed ${unit} && systemctl --user start ${unit}` });
    } else if (state === 'failed') {
      problems.push({ problem: `the host agent failed (last exit code ${exit ?? 'unknown'}); ${logHint(name)}`, fix: `systemctl --user start ${unit}` });
    }
    return {
      instance: name,
      condition,
      keepAlive,
      file: condition === 'none' ? null : file,
      manager: 'systemd',
      service: unit,
      state,
      pid: state === 'running' ? pid : null,
      lastExitCode: exit,
      problems,
      notes,
    };
  }

  private holdLinger(done: string[]): Step[] {
    const user = this.host.user;
    if (this.lingering()) {
      if (!existsSync(this.lingerMarker)) done.push(`lingering was already on for ${user}; disable will leave it on`);
      return [];
    }
    // The marker goes first: lingering turned on without a marker would never be turned off.
    return [
      { kind: 'mkdir', path: path.dirname(this.lingerMarker) },
      { kind: 'write', path: this.lingerMarker, content: `lingering for ${user} was turned on by limactl-autostart\n`, mode: 0o644 },
      {
        kind: 'run',
        argv: ['loginctl', 'enable-linger', user],
        hint: `Turning lingering on may need an administrator: run \`sudo loginctl enable-linger ${user}\`, then enable again.`,
        undo: [{ kind: 'run', argv: ['loginctl', 'disable-linger', user] }],
      },
    ];
  }

  private releaseLinger(instance: string, done: string[]): Step[] {
    const user = this.host.user;
    if (!existsSync(this.lingerMarker)) {
      if (this.lingering()) done.push(`lingering stays on for ${user}: it was on before limactl-autostart`);
      return [];
    }
    const others = this.otherBootInstances(instance);
    if (others.length > 0) {
      done.push(`lingering stays on for ${user}: ${others.join(', ')} still ${others.length === 1 ? 'starts' : 'start'} at boot`);
      return [];
    }
    done.push(`lingering turned off for ${user}: limactl-autostart had turned it on`);
    return [
      { kind: 'run', argv: ['loginctl', 'disable-linger', user], undo: [{ kind: 'run', argv: ['loginctl', 'enable-linger', user] }] },
      { kind: 'remove', path: this.lingerMarker },
    ];
  }
}

const SHOW_PROPERTIES = ['Id', 'LoadState', 'ActiveState', 'SubState', 'Result', 'MainPID', 'ExecMainCode', 'ExecMainStatus', 'NRestarts', 'UnitFileState'];
/** waitid(2)'s si_code for a process ended by a signal, as `systemctl show` prints ExecMainCode. */
const CLD_KILLED = 2;
const SIGKILL = 9;

function unitState(props: Map<string, string> | undefined, keepAlive: boolean): ServiceState {
  if (!props) return 'unknown';
  switch (props.get('ActiveState')) {
    case 'active':
    case 'reloading':
    case 'deactivating':
      return 'running';
    case 'activating':
      // auto-restart: waiting RestartSec before the next start after a failure.
      return props.get('SubState') === 'auto-restart' ? 'restarting' : 'running';
    case 'failed':
      // With Restart=on-failure a unit ends up failed only when systemd gave up restarting it.
      // systemd 252 keeps the last failure's Result (exit-code, signal) then, not start-limit-hit;
      // its log alone says "Start request repeated too quickly".
      return props.get('Result') === 'start-limit-hit' || keepAlive ? 'start-limit-hit' : 'failed';
    default:
      // A unit file removed while the unit ran is still active (above); once stopped, it is gone.
      return props.get('LoadState') === 'not-found' ? 'not-loaded' : 'loaded';
  }
}

function isLink(file: string): boolean {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}
