import { existsSync, lstatSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Backend, Condition, DisableRequest, EnableRequest, Facts, Job, LogSource, Plan, Registration, RunStep, ServiceState, Step } from '../model.js';
import { type Host, instanceLock, stateDir, systemPath } from '../host.js';
import { probe, run, type RunResult } from '../exec.js';
import { render } from '../render.js';
import { listDir, present } from '../files/fs.js';
import { listRegistrations, readServiceFile, replacedNote } from '../files/registration.js';
import { environmentOf, execArgv, parseUnit, unescapeSpecifiers, unitValues } from '../files/unit.js';
import { headerLine, servicePath, unitFor, unitName, type ServiceInput } from '../service.js';
import { CommandError, UsageError, UserError } from '../errors.js';
import { planOf, type Part } from '../plan.js';

const UNIT_FILE = /^lima-vm@(.+)\.service$/;

const BUS_HINT = 'If systemctl says "Failed to connect to bus", the user manager is not reachable: run this as the user who owns the instance (not under sudo or su), from a login session, or check that /run/user/<uid> exists (`loginctl enable-linger` keeps it).';

const SHOW_PROPERTIES = ['Id', 'LoadState', 'ActiveState', 'SubState', 'Result', 'MainPID', 'ExecMainCode', 'ExecMainStatus', 'NRestarts', 'UnitFileState'];
/** waitid(2)'s si_code for a process ended by a signal, as `systemctl show` prints ExecMainCode. */
const CLD_KILLED = 2;

/** No user manager answered `argv`: what enable, disable and status say before they change or show anything. */
function noManager(argv: string[], out: RunResult, uid: number): NonNullable<Plan['cannotRun']> {
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

export class SystemdBackend implements Backend {
  readonly manager = 'systemd' as const;
  readonly rewriteTakesEffect = 'a running instance keeps running, and the new unit applies from its next start';

  constructor(private readonly host: Host) {}

  private get unitDir(): string {
    return path.join(this.host.xdgConfigHome, 'systemd', 'user');
  }

  private unitPath(instance: string): string {
    return path.join(this.unitDir, unitName(instance));
  }

  /** Where we note that lingering was turned on by us, so that only we turn it off again. */
  private get lingerMarker(): string {
    return path.join(stateDir(this.host), 'linger');
  }

  private lingering(): boolean {
    return existsSync(systemPath(this.host, 'var', 'lib', 'systemd', 'linger', this.host.user));
  }

  /** cron, su and some SSH setups leave XDG_RUNTIME_DIR unset, and systemctl --user then
   *  cannot find the bus; /run/user/<uid> is where logind puts it. */
  private get busEnv(): Record<string, string> | undefined {
    return this.host.env.XDG_RUNTIME_DIR ? undefined : { XDG_RUNTIME_DIR: `/run/user/${this.host.uid}` };
  }

  /** A systemctl step; with `undo`, undone by another systemctl call if a later step fails. */
  private systemctl(args: string[], undo?: string[], undoLast = false): RunStep {
    const env = this.busEnv;
    const step: RunStep = { kind: 'run', argv: ['systemctl', '--user', ...args], ...(env ? { env } : {}), hint: BUS_HINT };
    return undo ? { ...step, undo: [this.systemctl(undo)], undoLast } : step;
  }

  /**
   * Whether `systemctl --user` reaches a user manager. WSL without systemd, containers and minimal
   * hosts have systemctl but no manager, and every plan runs at least `daemon-reload`, which needs
   * one: asked once per plan, before any step (as Lima's own autostart checks that systemd runs).
   */
  private async managerMissing(): Promise<Plan['cannotRun']> {
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

  private registration(instance: string): Registration {
    return { kind: 'user unit', instance, file: this.unitPath(instance), lingering: this.lingering() };
  }

  /** The condition this program registered the unit for; 'foreign' for a unit it did not write. */
  private existingCondition(instance: string): Condition | 'foreign' | undefined {
    if (!present(this.unitPath(instance))) return undefined;
    return readServiceFile(this.registration(instance)).header?.condition ?? 'foreign';
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
    const unit = unitName(name);
    const content = renderUnit({
      instance: name, dir: request.instance.dir, limaHome: request.instance.limaHome, limactl: request.limactl, platform: 'linux',
      condition: request.condition, keepAlive: request.keepAlive,
    });
    const replaced = previous === undefined ? undefined : replacedNote(this.registration(name), servicePath('linux', request.limactl), this.host);
    const parts: Part[] = [{
      done: replaced ? [replaced] : [],
      steps: [
        { kind: 'mkdir', path: this.unitDir },
        { kind: 'write', path: file, content, mode: 0o644 },
        // Undone after the old file is back, so that systemd reads the old one again.
        this.systemctl(['daemon-reload'], ['daemon-reload'], true),
        previous === 'foreign'
          // A unit this program did not write may have been enabled into other targets (Lima up to
          // 1.0.1 wrote WantedBy=multi-user.target, a target the user manager does not have):
          // reenable removes every link to the unit and makes the new [Install] links, in one call,
          // without stopping a running unit. Its undo, once the old file is back, makes the old
          // file's links again.
          ? this.systemctl(['reenable', unit], [this.isEnabled(name) ? 'reenable' : 'disable', unit], true)
          : this.systemctl(['enable', unit], this.isEnabled(name) ? undefined : ['disable', unit]),
      ],
    }];
    if (request.condition === 'boot') parts.push(this.holdLinger());
    else if (previous === 'boot') parts.push(this.releaseLinger(name));
    if (request.now) {
      // A unit that hit its start limit refuses even a manual start until reset-failed.
      parts.push({ steps: [{ ...this.systemctl(['reset-failed', unit]), mayFail: 'the unit may not have failed' }, this.systemctl(['start', unit], (await this.isActive(name)) ? undefined : ['stop', unit])] });
    }
    const when = request.condition === 'boot' ? `at boot (lingering on for ${user})` : 'at login';
    parts.push({ done: [`instance "${name}" starts ${when}: ${file}`] });
    return planOf(`enable "${name}" at ${request.condition} (systemd, keep-alive ${request.keepAlive})`, parts, cannotRun);
  }

  async planDisable(request: DisableRequest): Promise<Plan> {
    const name = request.instance;
    const unit = unitName(name);
    const previous = this.existingCondition(name);
    const summary = `disable "${name}" (systemd)`;
    if (previous === undefined) return planOf(summary, []);
    // Even without --now: `systemctl --user disable` and `daemon-reload` need the manager.
    const cannotRun = await this.managerMissing();
    const parts: Part[] = [];
    if (request.now) parts.push({ steps: [this.systemctl(['stop', unit], (await this.isActive(name)) ? ['start', unit] : undefined, true)] });
    parts.push({
      steps: [
        // disable before the file goes: it reads [Install] to know which links to remove.
        this.systemctl(['disable', unit], this.isEnabled(name) ? ['enable', unit] : undefined),
        { kind: 'remove', path: this.unitPath(name) },
        this.systemctl(['daemon-reload'], ['daemon-reload'], true),
      ],
    });
    if (previous === 'boot') parts.push(this.releaseLinger(name));
    parts.push({ done: [`removed ${this.unitPath(name)}`, ...(request.now ? [] : ['a running instance keeps running; add --now to stop it now'])] });
    return planOf(summary, parts, cannotRun);
  }

  registrations(): Registration[] {
    const lingering = this.lingering();
    return listRegistrations(this.unitDir, UNIT_FILE, (instance, file) => ({ kind: 'user unit', instance, file, lingering }));
  }

  /**
   * Lingering belongs to the user, not to one instance: whether to turn it on or off is decided
   * from every unit on disk, so runs on different instances take this lock too (after their
   * instance's), and one run's decision cannot be undone by another's made from the same disk.
   */
  locks(instance: string): { file: string; what: string }[] {
    return [instanceLock(this.host, instance), { file: path.join(stateDir(this.host), 'lingering.lock'), what: `lingering for ${this.host.user}` }];
  }

  /** The journal holds both what `limactl start` and what the host agent say. */
  logs(instance: string, lines: number, follow: boolean): LogSource {
    return {
      files: [],
      command: ['journalctl', '--user', '-u', unitName(instance), '-n', String(lines), '--no-pager', ...(follow ? ['-f'] : [])],
      registered: this.registrations().some((r) => r.instance === instance),
      notes: [],
    };
  }

  /**
   * One `systemctl --user show` for every unit, however many there are; asked with none too, when
   * it shows the manager: a failure means that no user manager answers, and status says so.
   */
  async facts(instances: string[]): Promise<Facts[]> {
    const argv = ['systemctl', '--user', 'show', `--property=${SHOW_PROPERTIES.join(',')}`, '--', ...instances.map(unitName)];
    const out = await run(argv, { env: this.busEnv, mayFail: 'said as no manager', noInput: true });
    if (out.exitCode !== 0) {
      const { message, hint } = noManager(argv, out, this.host.uid);
      throw new UserError(message, hint);
    }
    const units = new Map<string, Map<string, string>>();
    for (const block of out.stdout.split(/\n\s*\n/)) {
      const props = new Map(block.split('\n').flatMap((line): [string, string][] => {
        const eq = line.indexOf('=');
        return eq > 0 ? [[line.slice(0, eq), line.slice(eq + 1)]] : [];
      }));
      const id = props.get('Id');
      if (id) units.set(id, props);
    }
    const lingering = this.lingering();
    return instances.map((name) => {
      const unit = unitName(name);
      // A file removed between the look and the read (a `disable` running meanwhile) is not registered.
      const files = present(this.unitPath(name)) ? [readServiceFile(this.registration(name))].filter((f) => f.unreadable === undefined || present(this.unitPath(name))) : [];
      const props = units.get(unit);
      const keepAlive = files[0]?.unreadable === undefined && files[0]?.keepAlive === true;
      const place = { service: unit, label: unit, domain: 'user-manager' as const };
      const state = unitState(props, keepAlive);
      const exit = Number(props?.get('ExecMainStatus') ?? 0) || null;
      const job: Job | undefined = props && {
        ...place,
        state,
        pid: state === 'running' ? Number(props.get('MainPID') ?? 0) || null : null,
        lastExitCode: exit,
        // systemd keeps how the main process ended only until it starts the unit again: while it
        // waits RestartSec (restarting), or after it gave up.
        killed: props.get('ExecMainCode') === String(CLD_KILLED) && exit === 9,
      };
      return {
        instance: name,
        manager: 'systemd',
        files,
        jobs: job ? [job] : [],
        service: place,
        ...(props ? { unit: { loadState: props.get('LoadState') ?? '', fileState: props.get('UnitFileState') ?? '' } } : {}),
        lingering,
      };
    });
  }

  private holdLinger(): Part {
    const user = this.host.user;
    if (this.lingering()) return { done: existsSync(this.lingerMarker) ? [] : [`lingering was already on for ${user}; disable will leave it on`] };
    // The marker goes first: lingering turned on without a marker would never be turned off.
    return {
      steps: [
        { kind: 'mkdir', path: path.dirname(this.lingerMarker) },
        { kind: 'write', path: this.lingerMarker, content: `lingering for ${user} was turned on by limactl-autostart\n`, mode: 0o644 },
        {
          kind: 'run',
          argv: ['loginctl', 'enable-linger', user],
          hint: `Turning lingering on may need an administrator: run \`sudo loginctl enable-linger ${user}\`, then enable again.`,
          undo: [{ kind: 'run', argv: ['loginctl', 'disable-linger', user] }],
        },
      ],
    };
  }

  private releaseLinger(instance: string): Part {
    const user = this.host.user;
    if (!existsSync(this.lingerMarker)) return { done: this.lingering() ? [`lingering stays on for ${user}: it was on before limactl-autostart`] : [] };
    // Other instances whose units we registered for boot still need lingering.
    const others = this.registrations().filter((r) => r.instance !== instance && readServiceFile(r).header?.condition === 'boot').map((r) => r.instance);
    if (others.length > 0) return { done: [`lingering stays on for ${user}: ${others.join(', ')} still ${others.length === 1 ? 'starts' : 'start'} at boot`] };
    return {
      done: [`lingering turned off for ${user}: limactl-autostart had turned it on`],
      steps: [
        { kind: 'run', argv: ['loginctl', 'disable-linger', user], undo: [{ kind: 'run', argv: ['loginctl', 'enable-linger', user] }] },
        { kind: 'remove', path: this.lingerMarker } as Step,
      ],
    };
  }
}

/** The unit must read back as the values that went in: anything else is a bug in the template or the escaping. */
function renderUnit(input: ServiceInput): string {
  const values = unitFor(input);
  const text = render('lima-vm@INSTANCE.service', { header: headerLine(input.condition, input.keepAlive), unit: unitName(input.instance), ...values });
  const unit = parseUnit(text);
  const read = Object.fromEntries(Object.entries(values).map(([section, keys]) => [section, Object.fromEntries(Object.entries(keys).map(([key, value]) => {
    const said = unitValues(unit, section, key);
    if (key === 'ExecStart') return [key, said.length === 1 ? execArgv(said[0]!) : said];
    if (key === 'Environment') return [key, environmentOf(unit)];
    return [key, typeof value === 'number' ? Number(said[0]) : unescapeSpecifiers(said[0] ?? '')];
  }))]));
  if (!isDeepStrictEqual(read, values)) throw new Error(`rendered unit does not read back as the values that went in:\n${JSON.stringify(read)}\n${JSON.stringify(values)}`);
  return text;
}

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
