import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Backend, Condition, DisableRequest, EnableRequest } from './backend.js';
import { type Host, systemPath } from '../host.js';
import type { Plan, Step } from '../plan.js';
import { render } from '../render.js';
import { headerLine, readHeader } from '../header.js';
import { listRegistrationFiles, replacedNote, type FoundRegistration } from '../registration.js';
import { serviceCommand, serviceEnvironment, servicePath } from '../service-env.js';
import { SYSTEMD_RESTART_SEC, SYSTEMD_START_LIMIT_BURST, SYSTEMD_START_LIMIT_INTERVAL_SEC, STOP_TIMEOUT_SEC } from '../tunables.js';
import { UsageError, UserError } from '../errors.js';
import { validateUnit } from '../unit-file.js';

// Lima's own unit name: Lima's `limactl start`/`stop` look for exactly this.
export const unitName = (instance: string): string => `lima-vm@${instance}.service`;
const UNIT_FILE = /^lima-vm@(.+)\.service$/;

const BUS_HINT = 'If systemctl says "Failed to connect to bus", the user manager is not reachable: run this as the user who owns the instance (not under sudo or su), from a login session, or check that /run/user/<uid> exists (`loginctl enable-linger` keeps it).';

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

  private systemctl(...args: string[]): Extract<Step, { kind: 'run' }> {
    // cron, su and some SSH setups leave XDG_RUNTIME_DIR unset, and systemctl --user then
    // cannot find the bus; /run/user/<uid> is where logind puts it.
    const env = this.host.env.XDG_RUNTIME_DIR ? undefined : { XDG_RUNTIME_DIR: `/run/user/${this.host.uid}` };
    return { kind: 'run', argv: ['systemctl', '--user', ...args], ...(env ? { env } : {}), hint: BUS_HINT };
  }

  private existingCondition(instance: string): Condition | 'foreign' | undefined {
    const file = this.unitPath(instance);
    if (!existsSync(file)) return undefined;
    return readHeader(readFileSync(file, 'utf8'))?.condition ?? 'foreign';
  }

  /** Other instances whose units we registered for boot: they still need lingering. */
  private otherBootInstances(instance: string): string[] {
    return listRegistrationFiles(this.unitDir, UNIT_FILE)
      .filter((f) => f.instance !== instance && f.text !== undefined && readHeader(f.text)?.condition === 'boot')
      .map((f) => f.instance);
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
      const note = replacedNote(file, { format: 'unit' }, name, servicePath(this.host, request.limactl));
      if (note) done.push(note);
    }
    const steps: Step[] = [
      { kind: 'mkdir', path: this.unitDir },
      { kind: 'write', path: file, content, mode: 0o644 },
      this.systemctl('daemon-reload'),
      // A unit this program did not write may have been enabled into other targets (Lima up to
      // 1.0.1 wrote WantedBy=multi-user.target, a target the user manager does not have):
      // reenable removes every link to the unit and makes the new [Install] links, in one call,
      // without stopping a running unit.
      this.systemctl(previous === 'foreign' ? 'reenable' : 'enable', unitName(name)),
    ];
    const warnings: string[] = [];
    if (request.condition === 'boot') {
      steps.push(...this.holdLinger(done));
    } else if (previous === 'boot') {
      steps.push(...this.releaseLinger(name, done));
    }
    if (request.now) {
      // A unit that hit its start limit refuses even a manual start until reset-failed.
      steps.push({ ...this.systemctl('reset-failed', unitName(name)), mayFail: 'the unit may not have failed' }, this.systemctl('start', unitName(name)));
    }
    const when = request.condition === 'boot' ? `at boot (lingering on for ${user})` : 'at login';
    done.push(`instance "${name}" starts ${when}: ${file}`);
    return { summary: `enable "${name}" at ${request.condition} (systemd, keep-alive ${request.keepAlive})`, steps, warnings, done };
  }

  async planDisable(request: DisableRequest): Promise<Plan> {
    const name = request.instanceName;
    const previous = this.existingCondition(name);
    const summary = `disable "${name}" (systemd)`;
    if (previous === undefined) return { summary, steps: [], warnings: [], done: [] };
    const steps: Step[] = [];
    const done: string[] = [];
    if (request.now) steps.push(this.systemctl('stop', unitName(name)));
    steps.push(
      // disable before the file goes: it reads [Install] to know which links to remove.
      this.systemctl('disable', unitName(name)),
      { kind: 'remove', path: this.unitPath(name) },
      this.systemctl('daemon-reload'),
    );
    if (previous === 'boot') steps.push(...this.releaseLinger(name, done));
    done.push(`removed ${this.unitPath(name)}`);
    if (!request.now) done.push('a running instance keeps running; add --now to stop it now');
    return { summary, steps, warnings: [], done };
  }

  async findRegistrations(): Promise<FoundRegistration[]> {
    // The unit is the same file for login and boot; without our header, lingering says which.
    const lingering = this.lingering();
    return listRegistrationFiles(this.unitDir, UNIT_FILE).map((f) => {
      const header = f.text === undefined ? undefined : readHeader(f.text);
      return {
        ...f,
        condition: header?.condition ?? (lingering ? 'boot' : 'login'),
        ...(header ? {} : { conditionFrom: `lingering is ${lingering ? 'on' : 'off'} for ${this.host.user}` }),
        kind: 'user unit',
        expect: { format: 'unit' as const },
      };
    });
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
      { kind: 'run', argv: ['loginctl', 'enable-linger', user], hint: `Turning lingering on may need an administrator: run \`sudo loginctl enable-linger ${user}\`, then enable again.` },
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
      { kind: 'run', argv: ['loginctl', 'disable-linger', user] },
      { kind: 'remove', path: this.lingerMarker },
    ];
  }
}
