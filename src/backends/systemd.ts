import { existsSync, lstatSync } from 'node:fs';
import path from 'node:path';
import type { Backend, DisableRequest, EnableRequest, Facts, LogSource, Plan, Registration, RunStep, ServiceFile, ServiceState } from '../model.js';
import { type Host, instanceLock, stateDir, systemPath } from '../host.js';
import { probe, run } from '../exec.js';
import { render } from '../render.js';
import { listDir, present } from '../files/fs.js';
import { hostAgentLogs, listRegistrations, readServiceFile, replacedNote } from '../files/registration.js';
import { environmentOf, execArgv, parseUnit, unescapeSpecifiers, unitSettings, unitValues } from '../files/unit.js';
import { headerLine, lastVmStopped, servicePath, unitFor, unitName, type ServiceInput } from '../service.js';
import { CommandError, UsageError, UserError } from '../errors.js';
import { planOf, type Part } from '../plan.js';
import { QUESTION_TIMEOUT_MS } from '../tunables.js';

const BUS_HINT = 'If systemctl says "Failed to connect to bus", the user manager is not reachable: run this as the user who owns the instance (not under sudo or su), from a login session, or check that /run/user/<uid> exists (`loginctl enable-linger` keeps it).';
const SHOW_PROPERTIES = ['Id', 'LoadState', 'ActiveState', 'SubState', 'Result', 'MainPID', 'ExecMainCode', 'ExecMainStatus', 'NRestarts', 'UnitFileState'];
/** waitid(2)'s si_code for a process ended by a signal, as `systemctl show` prints ExecMainCode. */
const CLD_KILLED = 2;

export class SystemdBackend implements Backend {
  readonly manager = 'systemd' as const;
  readonly rewriteTakesEffect = 'a running instance keeps running, and the new unit applies from its next start';
  private readonly unitDir: string;
  /** Notes that lingering was turned on by us, so that only we turn it off again. */
  private readonly lingerMarker: string;
  /** cron, su and some SSH setups leave XDG_RUNTIME_DIR unset, and systemctl --user then cannot find the bus. */
  private readonly busEnv: Record<string, string> | undefined;

  constructor(private readonly host: Host) {
    this.unitDir = path.join(host.xdgConfigHome, 'systemd', 'user');
    this.lingerMarker = path.join(stateDir(host), 'linger');
    this.busEnv = host.env.XDG_RUNTIME_DIR ? undefined : { XDG_RUNTIME_DIR: `/run/user/${host.uid}` };
  }

  private unitPath(instance: string): string {
    return path.join(this.unitDir, unitName(instance));
  }

  private lingering(): boolean {
    return existsSync(systemPath(this.host, 'var', 'lib', 'systemd', 'linger', this.host.user));
  }

  private systemctl(args: string[], undo?: string[], undoLast = false): RunStep {
    const step: RunStep = { kind: 'run', argv: ['systemctl', '--user', ...args], ...(this.busEnv ? { env: this.busEnv } : {}), hint: BUS_HINT };
    return undo ? { ...step, undo: [this.systemctl(undo)], undoLast } : step;
  }

  /**
   * WSL without systemd, containers and minimal hosts have systemctl but no user manager. Every plan
   * runs at least `daemon-reload`, so a plan asks first, before any step, as Lima's own autostart does.
   */
  private async ask(argv = ['systemctl', '--user', 'show-environment']): Promise<{ stdout: string; cannotRun?: Plan['cannotRun'] }> {
    const out = await run(argv, { env: this.busEnv, mayFail: 'no manager is an answer', noInput: true });
    if (out.exitCode === 0) return { stdout: out.stdout };
    return { stdout: '', cannotRun: {
      message: `no systemd user manager answers: ${new CommandError(argv, out.exitCode, out.stderr).message}`,
      hint: `A registration is a systemd user unit, and the user manager (\`systemd --user\`) is what starts it.
Run this as the user who owns the instance, from a login session (not under sudo or su), and check that /run/user/${this.host.uid} exists (\`loginctl enable-linger "$USER"\` keeps it).
On WSL, turn systemd on: \`systemd=true\` under \`[boot]\` in /etc/wsl.conf, then \`wsl --shutdown\`.
Where systemd does not run (a container, a minimal host), nothing can start the instance at login or boot: start it with \`limactl start\`.`,
    } };
  }

  private isActive(instance: string): Promise<boolean> {
    return probe(['systemctl', '--user', 'is-active', '--quiet', unitName(instance)], this.busEnv);
  }

  /** Enabled means linked from some target's .wants (or .requires) directory, as systemctl does it. */
  private isEnabled(instance: string): boolean {
    return listDir(this.unitDir).some((dir) => /\.(wants|requires)$/.test(dir) && lstatSync(path.join(this.unitDir, dir, unitName(instance)), { throwIfNoEntry: false })?.isSymbolicLink());
  }

  read(registration: Registration): ServiceFile {
    return readServiceFile(registration, unitSettings(registration.instance));
  }

  private registration(instance: string): Registration {
    return { kind: 'user unit', instance, file: this.unitPath(instance), lingering: this.lingering() };
  }

  /** The unit as read, if there is one; one removed between the look and the read (a `disable` running meanwhile) is not registered. */
  private files(instance: string): ServiceFile[] {
    if (!present(this.unitPath(instance))) return [];
    return [this.read(this.registration(instance))].filter((f) => f.unreadable === undefined || present(f.registration.file));
  }

  async planEnable(request: EnableRequest): Promise<Plan> {
    const name = request.instance.name;
    const user = this.host.user;
    if (request.user !== undefined && request.user !== user) {
      throw new UsageError(`--user ${request.user}: on Linux the instance runs in the systemd user manager of the user who enables it (${user})`, `Run limactl-autostart as ${request.user}, or leave out --user.`);
    }
    const { cannotRun } = await this.ask();
    const [previous] = this.files(name);
    const file = this.unitPath(name);
    const unit = unitName(name);
    const content = await renderUnit(request);
    const replaced = previous && replacedNote(previous, servicePath('linux', request.limactl), this.host);
    const parts: Part[] = [{
      done: replaced ? [replaced] : [],
      steps: [
        { kind: 'mkdir', path: this.unitDir },
        { kind: 'write', path: file, content, mode: 0o644 },
        // Undone after the old file is back, so that systemd reads the old one again.
        this.systemctl(['daemon-reload'], ['daemon-reload'], true),
        previous && !previous.header
          // A foreign unit may be enabled into other targets (Lima up to 1.0.1 wrote WantedBy=multi-user.target, which
          // the user manager does not have): reenable replaces every link by the new [Install] ones, leaving a running unit be.
          ? this.systemctl(['reenable', unit], [this.isEnabled(name) ? 'reenable' : 'disable', unit], true)
          : this.systemctl(['enable', unit], this.isEnabled(name) ? undefined : ['disable', unit]),
      ],
    }];
    if (request.condition === 'boot') parts.push(this.holdLinger());
    else if (previous?.header?.condition === 'boot') parts.push(this.releaseLinger(name));
    if (request.now) {
      const active = await this.isActive(name);
      // A unit that hit its start limit refuses even a manual start until reset-failed.
      parts.push({
        steps: [{ ...this.systemctl(['reset-failed', unit]), mayFail: 'the unit may not have failed' }, this.systemctl(['start', unit], active ? undefined : ['stop', unit])],
        done: [active ? `${unit} was already running: it keeps running, and the new unit applies from its next start` : `started ${unit}: the instance boots now`],
      });
    }
    parts.push({ done: [`instance "${name}" starts ${request.condition === 'boot' ? `at boot (lingering on for ${user})` : 'at login'}: ${file}`] });
    return planOf(`enable "${name}" at ${request.condition} (systemd, keep-alive ${request.keepAlive})`, parts, cannotRun);
  }

  async planDisable(request: DisableRequest): Promise<Plan> {
    const name = request.instance;
    const unit = unitName(name);
    const [previous] = this.files(name);
    const summary = `disable "${name}" (systemd)`;
    if (!previous) return planOf(summary, []);
    // Even without --now: `systemctl --user disable` and `daemon-reload` need the manager.
    const { cannotRun } = await this.ask();
    const parts: Part[] = [];
    if (request.now) {
      const active = await this.isActive(name);
      parts.push({ steps: [this.systemctl(['stop', unit], active ? ['start', unit] : undefined, true)], done: active ? [`stopped ${unit}: the instance shuts down`] : [] });
    }
    parts.push({
      steps: [
        // disable before the file goes: it reads [Install] to know which links to remove.
        this.systemctl(['disable', unit], this.isEnabled(name) ? ['enable', unit] : undefined),
        { kind: 'remove', path: this.unitPath(name) },
        this.systemctl(['daemon-reload'], ['daemon-reload'], true),
      ],
      done: [`removed ${this.unitPath(name)}`],
    });
    if (previous.header?.condition === 'boot') parts.push(this.releaseLinger(name));
    if (!request.now) parts.push({ done: ['a running instance keeps running; add --now to stop it now'] });
    return planOf(summary, parts, cannotRun);
  }

  registrations(): Registration[] {
    return listRegistrations(this.unitDir, /^lima-vm@(.+)\.service$/, (instance) => this.registration(instance));
  }

  /**
   * Lingering belongs to the user: it is turned on or off from every unit on disk, so runs on different instances
   * take this lock too (after their instance's), lest one undo another's decision made from the same disk.
   */
  locks(instance: string): { file: string; what: string }[] {
    return [instanceLock(this.host, instance), { file: path.join(stateDir(this.host), 'lingering.lock'), what: `lingering for ${this.host.user}` }];
  }

  /**
   * The unit's journal holds what `limactl start` says; the host agent, which it becomes without a
   * terminal, writes Lima's own ha.stderr.log (pkg/instance/start_unix.go), in the LIMA_HOME the unit sets.
   */
  logs(instance: string, lines: number, follow: boolean): LogSource {
    const files = this.files(instance);
    return {
      files: hostAgentLogs(this.host, instance, files),
      command: ['journalctl', '--user', '-u', unitName(instance), '-n', String(lines), '--no-pager', ...(follow ? ['-f'] : [])],
      registered: files.length > 0,
      notes: [],
    };
  }

  /** One `systemctl --user show` however many units; asked with none too: a failure means that no user manager answers. */
  async facts(instances: string[]): Promise<Facts[]> {
    const argv = ['systemctl', '--user', 'show', `--property=${SHOW_PROPERTIES.join(',')}`, '--', ...instances.map(unitName)];
    const { stdout, cannotRun } = await this.ask(argv);
    if (cannotRun) throw new UserError(cannotRun.message, cannotRun.hint);
    const units = new Map(stdout.split(/\n\s*\n/).map((block) => {
      const props = new Map(block.split('\n').flatMap((line): [string, string][] => (line.indexOf('=') > 0 ? [[line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]] : [])));
      return [props.get('Id'), props] as const;
    }));
    const lingering = this.lingering();
    // The service script's last word on a VM that stopped, asked of the journal of a restarted unit only.
    const stopped = new Map(await Promise.all(instances.filter((name) => Number(units.get(unitName(name))?.get('NRestarts')) > 0).map(async (name) => {
      const argv = ['journalctl', '--user', '-u', unitName(name), '-n', '200', '-o', 'cat', '--no-pager'];
      const out = await run(argv, { env: this.busEnv, mayFail: 'the journal may be off, or slow', noInput: true, timeoutMs: QUESTION_TIMEOUT_MS });
      return [name, lastVmStopped(out.stdout, name)] as const;
    })));
    return instances.map((name) => {
      const unit = unitName(name);
      const files = this.files(name);
      const props = units.get(unit);
      const place = { service: unit, label: unit, domain: 'user-manager' as const };
      const state = unitState(props, files[0]?.unreadable === undefined && files[0]?.keepAlive === true);
      const exit = Number(props?.get('ExecMainStatus') ?? 0) || null;
      return {
        instance: name,
        manager: 'systemd',
        files,
        jobs: props ? [{
          ...place,
          state,
          pid: state === 'running' ? Number(props.get('MainPID') ?? 0) || null : null,
          lastExitCode: exit,
          // systemd keeps how the main process ended only until the next start: while restarting, or after it gave up.
          killed: props.get('ExecMainCode') === String(CLD_KILLED) && exit === 9,
        }] : [],
        service: place,
        ...(props ? { unit: { loadState: props.get('LoadState') ?? '', fileState: props.get('UnitFileState') ?? '' } } : {}),
        vmStopped: stopped.get(name),
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
        { kind: 'run', argv: ['loginctl', 'enable-linger', user], hint: `Turning lingering on may need an administrator: run \`sudo loginctl enable-linger ${user}\`, then enable again.`, undo: [{ kind: 'run', argv: ['loginctl', 'disable-linger', user] }] },
      ],
    };
  }

  private releaseLinger(instance: string): Part {
    const user = this.host.user;
    if (!existsSync(this.lingerMarker)) return { done: this.lingering() ? [`lingering stays on for ${user}: it was on before limactl-autostart`] : [] };
    // Other instances whose units we registered for boot still need lingering.
    const others = this.registrations().filter((r) => r.instance !== instance && this.read(r).header?.condition === 'boot').map((r) => r.instance);
    if (others.length > 0) return { done: [`lingering stays on for ${user}: ${others.join(', ')} still ${others.length === 1 ? 'starts' : 'start'} at boot`] };
    return {
      done: [`lingering turned off for ${user}: limactl-autostart had turned it on`],
      steps: [
        { kind: 'run', argv: ['loginctl', 'disable-linger', user], undo: [{ kind: 'run', argv: ['loginctl', 'enable-linger', user] }] },
        { kind: 'remove', path: this.lingerMarker },
      ],
    };
  }
}

async function renderUnit(input: ServiceInput): Promise<string> {
  const values = unitFor(input);
  const readBack = (text: string): unknown => {
    const unit = parseUnit(text);
    return Object.fromEntries(Object.entries(values).map(([section, keys]) => [section, Object.fromEntries(Object.entries(keys).map(([key, value]) => {
      const said = unitValues(unit, section, key);
      if (key === 'ExecStart') return [key, said.length === 1 ? execArgv(said[0]!) : said];
      if (key === 'Environment') return [key, environmentOf(unit)];
      return [key, typeof value === 'number' ? Number(said[0]) : unescapeSpecifiers(said[0] ?? '')];
    }))]));
  };
  return render('lima-vm@INSTANCE.service', { header: headerLine(input.condition, input.keepAlive), unit: unitName(input.instance.name), ...values }, values, readBack);
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
      // With Restart=on-failure a unit ends up failed only when systemd gave up restarting it;
      // systemd 252 keeps the last failure's Result then, not start-limit-hit.
      return props.get('Result') === 'start-limit-hit' || keepAlive ? 'start-limit-hit' : 'failed';
    default:
      // A unit file removed while the unit ran is still active (above); once stopped, it is gone.
      return props.get('LoadState') === 'not-found' ? 'not-loaded' : 'loaded';
  }
}
