import { statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Backend, DisableRequest, EnableRequest, Facts, Job, LogSource, Plan, Registration, RunStep, Step } from '../model.js';
import { type Host, hostAgentLog, instanceLock, systemPath } from '../host.js';
import { run } from '../exec.js';
import { listInstances } from '../lima.js';
import { render } from '../render.js';
import { fileType, present, readRegularFile } from '../files/fs.js';
import { parsePlist } from '../files/plist.js';
import { listRegistrations, readServiceFile, replacedNote, serviceLimaHome } from '../files/registration.js';
import { agentLabel, daemonLabel, headerLine, launchdLogPaths, plistFor, servicePath, type ServiceInput } from '../service.js';
import { BOOTSTRAP_RETRY_SEC, SETTLE_TIMEOUT_SEC } from '../tunables.js';
import { UsageError, UserError, formatArgv } from '../errors.js';
import { planOf, type Part } from '../plan.js';

// The file names of Lima's labels; the instance name is the first group.
const AGENT_FILE = /^io\.lima-vm\.autostart\.(.+)\.plist$/;
const DAEMON_FILE = /^io\.lima-vm\.daemon\.(.+)\.plist$/;

// launchctl(1): `bootout` may return before launchd has finished tearing the job down, and a
// `bootstrap` meanwhile fails with 37 (EALREADY, "Operation already in progress") and then 5.
const BOOTSTRAP_BUSY = { codes: [37, 5], boundSec: BOOTSTRAP_RETRY_SEC, why: 'launchd may still be unloading a job' };

const BOOTSTRAP_HINT = [
  'launchctl bootstrap fails with error 5 (Input/output error) when launchd will not load the plist:',
  '- the job is still loaded (run `launchctl bootout DOMAIN/LABEL`, then try again);',
  '- it is disabled in launchd\'s override database (`launchctl enable DOMAIN/LABEL`);',
  '- the domain does not exist: gui/<uid> needs a GUI login; over SSH or on a headless Mac use --condition=boot;',
  '- a LaunchDaemon plist is not owned by root:wheel or is writable by others;',
  '- the plist is not valid for launchd (`plutil -lint FILE`).',
  'Run `launchctl print DOMAIN/LABEL` and see the system log for details.',
].join('\n');

type Domain = Job['domain'];
const DOMAINS: readonly Domain[] = ['gui', 'user', 'system'];
type JobState = 'absent' | 'idle' | 'running';

export class LaunchdBackend implements Backend {
  readonly manager = 'launchd' as const;
  readonly rewriteTakesEffect = 'a job launchd has loaded keeps its old settings until it is loaded again (the next login or boot, or `limactl-autostart disable NAME --now`, then `enable NAME --now`)';
  private domain: Promise<{ domain: 'gui' | 'user'; warning?: string }> | undefined;

  constructor(private readonly host: Host) {}

  private agentFile(instance: string): string {
    return path.join(this.host.home, 'Library', 'LaunchAgents', `${agentLabel(instance)}.plist`);
  }

  private daemonFile(instance: string): string {
    return systemPath(this.host, 'Library', 'LaunchDaemons', `${daemonLabel(instance)}.plist`);
  }

  private target(domain: Domain, instance: string): string {
    return domain === 'system' ? `system/${daemonLabel(instance)}` : `${domain}/${this.host.uid}/${agentLabel(instance)}`;
  }

  private domainName(domain: Domain): string {
    return domain === 'system' ? 'system' : `${domain}/${this.host.uid}`;
  }

  /** gui/<uid> exists only while the user has a GUI login; over SSH only user/<uid> does. */
  private agentDomain(): Promise<{ domain: 'gui' | 'user'; warning?: string }> {
    this.domain ??= (async () => {
      const gui = `gui/${this.host.uid}`;
      const answer = await run(['launchctl', 'print', gui], { mayFail: 'a no is an answer', noInput: true });
      if (answer.exitCode === 0) return { domain: 'gui' };
      // No launchctl at all: a plan for macOS previewed elsewhere (`npm run demo` on Linux).
      if (answer.exitCode === undefined && !answer.timedOut) return { domain: 'gui', warning: `launchctl cannot be run here, so this is a preview: it assumes a GUI login (${gui})` };
      const user = `user/${this.host.uid}`;
      // launchctl(1): "A user domain may exist independently of a logged-in user"; jobs there
      // (the Background session) can outlive the last logout.
      return {
        domain: 'user',
        warning: `launchd has no ${gui} domain (no GUI login: SSH or a headless Mac?), so the agent goes to ${user}, the domain of background sessions, which can outlive the last logout.`,
      };
    })();
    return this.domain;
  }

  async planEnable(request: EnableRequest): Promise<Plan> {
    const name = request.instance.name;
    const agent = this.agentFile(name);
    const daemon = this.daemonFile(name);
    const boot = request.condition === 'boot';
    const user = request.user ?? this.host.user;
    if (!boot && user !== this.host.user) {
      throw new UsageError(`--user ${request.user} applies only to --condition=boot`, 'A LaunchAgent always runs as the user who logs in; leave out --user, or use --condition=boot.');
    }
    const input: ServiceInput = {
      instance: name, dir: request.instance.dir, limaHome: request.instance.limaHome, limactl: request.limactl, platform: 'darwin',
      condition: request.condition, keepAlive: request.keepAlive,
      ...(boot ? { daemon: { userName: user, ...(user === this.host.user ? { home: this.host.home } : {}) } } : {}),
    };
    const content = this.renderPlist(input);
    const file = boot ? daemon : agent;
    const replaced = present(file) ? replacedNote(this.registration(name, boot ? 'LaunchDaemon' : 'LaunchAgent'), servicePath('darwin', request.limactl), this.host) : undefined;
    const parts: Part[] = [{ done: replaced ? [replaced] : [] }];
    const { domain, warning } = boot ? { domain: 'system' as const, warning: undefined } : await this.agentDomain();
    const target = this.target(domain, name);
    const launchctl = boot ? ['sudo', 'launchctl'] : ['launchctl'];

    // The new registration is written before the old one is removed, so a failure (a cancelled
    // sudo, say) never leaves the instance with neither.
    if (boot) {
      if (user !== this.host.user) parts.push({ warnings: [`the daemon runs as ${user}, who must be able to read and write ${request.instance.limaHome}`] });
      const previous: { steps: Step[]; warnings?: string[] } = present(daemon) ? this.restoreDaemon(daemon) : { steps: [{ kind: 'run', argv: ['sudo', 'rm', '-f', '--', daemon] }] };
      parts.push(
        { warnings: previous.warnings, steps: installDaemon(content, daemon, previous.steps) },
        { steps: daemonLogSteps(request.instance.dir, user, user === this.host.user ? this.host.uid : undefined) },
      );
    } else {
      if (warning) parts.push({ warnings: [domain === 'user' ? [warning, ...userDomainAdvice(name, target, request.now)].join('\n') : warning] });
      parts.push({ steps: [{ kind: 'mkdir', path: path.dirname(agent) }, { kind: 'write', path: agent, content, mode: 0o644 }] });
    }
    // The override database outlives the plist: a job once disabled would not load.
    parts.push({ steps: [{ kind: 'run', argv: [...launchctl, 'enable', target] }] });
    const other = boot ? agent : daemon;
    if (present(other)) {
      parts.push(boot ? { steps: [{ kind: 'remove', path: agent }] } : this.removeDaemon(daemon));
      parts.push({ done: [`removed the ${boot ? 'LaunchAgent' : 'LaunchDaemon'} ${other}: the instance now starts at ${request.condition}, not at ${boot ? 'login' : 'boot'}`] });
    }
    if (request.now) {
      // An agent loaded over SSH (user/<uid>) would keep running beside one in gui/<uid>.
      for (const other of DOMAINS.filter((d) => d !== domain)) parts.push(await this.bootout(other, name, request.limactl));
      parts.push(await this.start(domain, name, file, request.limactl));
      const steps = parts.flatMap((p) => p.steps ?? []);
      parts.push({ warnings: await this.startedOutside(request, steps) });
    }
    parts.push({ done: [boot ? `instance "${name}" starts at boot as ${user}: LaunchDaemon ${daemon} (${target})` : `instance "${name}" starts at login: LaunchAgent ${agent} (${target})`] });
    return planOf(`enable "${name}" at ${request.condition} (launchd, keep-alive ${request.keepAlive})`, parts);
  }

  async planDisable(request: DisableRequest): Promise<Plan> {
    const name = request.instance;
    // Stopping comes first and looks at what launchd has loaded, not only at files: a job whose
    // plist an earlier switch removed without --now is still loaded.
    const parts: Part[] = [];
    if (request.now) for (const domain of DOMAINS) parts.push(await this.bootout(domain, name));
    const stopped = parts.some((p) => p.steps?.length);
    if (stopped) parts.push({ done: ['stopped the loaded job (the instance shuts down)'] });
    if (present(this.agentFile(name))) parts.push({ steps: [{ kind: 'remove', path: this.agentFile(name) }], done: [`removed the LaunchAgent ${this.agentFile(name)}`] });
    if (present(this.daemonFile(name))) parts.push(this.removeDaemon(this.daemonFile(name)), { done: [`removed the LaunchDaemon ${this.daemonFile(name)}`] });
    const plan = planOf(`disable "${name}" (launchd)`, parts);
    if (plan.steps.length > 0 && !request.now) plan.done.push('a running instance keeps running (its job stays loaded until its launchd session ends or the Mac restarts); add --now to stop it now');
    return plan;
  }

  registrations(): Registration[] {
    return [
      ...listRegistrations(path.dirname(this.agentFile('x')), AGENT_FILE, (instance) => this.registration(instance, 'LaunchAgent')),
      ...listRegistrations(path.dirname(this.daemonFile('x')), DAEMON_FILE, (instance) => this.registration(instance, 'LaunchDaemon')),
    ];
  }

  private registration(instance: string, kind: 'LaunchAgent' | 'LaunchDaemon'): Registration {
    return kind === 'LaunchAgent'
      ? { kind, instance, file: this.agentFile(instance), label: agentLabel(instance) }
      : { kind, instance, file: this.daemonFile(instance), label: daemonLabel(instance) };
  }

  locks(instance: string): { file: string; what: string }[] {
    return [instanceLock(this.host, instance)];
  }

  /** The files the plists name (what `limactl start` says) and Lima's ha.stderr.log (what the host agent says). */
  logs(instance: string): LogSource {
    const registrations = this.registrations().filter((r) => r.instance === instance);
    const files: string[] = [];
    const limaHomes: string[] = [];
    const notes: string[] = [];
    for (const registration of registrations) {
      const file = readServiceFile(registration);
      if (file.unreadable !== undefined) {
        notes.push(`${registration.file}: ${file.unreadable}; the log files it names are not shown`);
        continue;
      }
      files.push(...file.logFiles);
      limaHomes.push(serviceLimaHome(file, this.host.home));
    }
    // Lima's log is in the instance's directory under the LIMA_HOME the service uses.
    for (const limaHome of limaHomes.length > 0 ? limaHomes : [this.host.limaHome]) files.push(hostAgentLog(limaHome, instance));
    return { files: [...new Set(files)], registered: registrations.length > 0, notes };
  }

  /**
   * Three questions however many instances there are: one listing per domain a job of ours can
   * be loaded in. `launchctl print system` needs no root. A domain that does not exist (no GUI
   * login) answers non-zero and holds nothing.
   */
  async facts(instances: string[]): Promise<Facts[]> {
    const outputs = await Promise.all(DOMAINS.map((d) => run(['launchctl', 'print', this.domainName(d)], { mayFail: 'the domain may not exist', noInput: true })));
    const jobs = new Map<string, Job>();
    outputs.forEach((out, i) => {
      if (out.exitCode !== 0) return;
      const domain = DOMAINS[i]!;
      for (const { label, pid, lastExitCode } of parseServices(out.stdout)) {
        const service = `${this.domainName(domain)}/${label}`;
        const state = pid ? 'running' : lastExitCode ? 'failed' : 'loaded';
        jobs.set(service, { service, label, domain, state, pid, lastExitCode, killed: lastExitCode === -9 });
      }
    });
    const guiLogin = outputs[0]!.exitCode === 0;
    return instances.map((name) => {
      // A daemon first: it starts the instance at boot, before any login. A file removed between
      // the look and the read (a `disable` running meanwhile) is not registered.
      const files = [this.registration(name, 'LaunchDaemon'), this.registration(name, 'LaunchAgent')]
        .filter((r) => present(r.file))
        .map(readServiceFile)
        .filter((f) => f.unreadable === undefined || present(f.registration.file));
      const st = files[0]?.registration.kind === 'LaunchDaemon' ? statSync(files[0].registration.file, { throwIfNoEntry: false }) : undefined;
      const boot = files[0]?.condition === 'boot';
      // Not loaded: where the agent would be, gui/<uid> with a GUI login, else user/<uid>, as enable --now would load it.
      const domain: Domain = boot ? 'system' : guiLogin ? 'gui' : 'user';
      return {
        instance: name,
        manager: 'launchd',
        files,
        jobs: DOMAINS.flatMap((d) => jobs.get(this.target(d, name)) ?? []),
        service: { service: this.target(domain, name), label: boot ? daemonLabel(name) : agentLabel(name), domain },
        guiLogin,
        ...(st ? { daemonFile: { uid: st.uid, mode: st.mode } } : {}),
      };
    });
  }

  /**
   * `launchctl print` of a job: not loaded (exit code other than 0), loaded and not running (its
   * program exited, as a job without KeepAlive does after a crash or a `limactl stop`), or running.
   * Anything but "not running" without a pid counts as running, so that a running VM is never
   * booted out by mistake.
   */
  private async jobState(target: string): Promise<JobState> {
    const answer = await run(['launchctl', 'print', target], { mayFail: 'a no is an answer', noInput: true });
    if (answer.exitCode !== 0) return 'absent';
    const idle = /^\s*state = not running\s*$/m.test(answer.stdout) && !/^\s*pid = \d+\s*$/m.test(answer.stdout);
    return idle ? 'idle' : 'running';
  }

  /**
   * Boots a loaded job out of `domain` (asking launchd needs no root, so sudo is asked for only
   * when there is work). With `limactl` (a job is started afterwards), a running job is waited for.
   */
  private async bootout(domain: Domain, name: string, limactl?: string): Promise<Part> {
    const target = this.target(domain, name);
    const state = await this.jobState(target);
    if (state === 'absent') return {};
    const file = domain === 'system' ? this.daemonFile(name) : this.agentFile(name);
    const step = bootoutStep(domain === 'system', this.domainName(domain), target, file, state === 'running' && limactl !== undefined ? settleOf(target, name, limactl) : undefined);
    return { steps: [{ ...step, mayFail: domain === 'system' ? 'the daemon may not be loaded' : 'it may have stopped meanwhile' }] };
  }

  /**
   * --now: a job that is loaded and running is only kickstarted (which starts a job that is not
   * running and never restarts one), so running `enable --now` again, as provisioning tools do on
   * every run, never restarts the VM. Any other job is booted out (bootstrapping a loaded label
   * fails with error 5) and bootstrapped from the new file. A job that is loaded but not running
   * (a file Lima wrote, without KeepAlive, after its VM stopped) is reloaded that way too: booting
   * it out stops nothing, and a kickstart would start it with the old file's settings.
   */
  private async start(domain: Domain, name: string, file: string, limactl: string): Promise<Part> {
    const target = this.target(domain, name);
    const sudo = domain === 'system';
    const launchctl = sudo ? ['sudo', 'launchctl'] : ['launchctl'];
    const state = await this.jobState(target);
    if (state === 'running') {
      return {
        steps: [{ kind: 'run', argv: [...launchctl, 'kickstart', target] }],
        done: [`${target} was already loaded: it keeps its previous settings until it is loaded again (\`limactl-autostart disable --now\`, then \`enable --now\`, or a ${sudo ? 'reboot' : 'new login'})`],
      };
    }
    return {
      steps: [
        { ...bootoutStep(sudo, this.domainName(domain), target, file), mayFail: state === 'idle' ? 'it may have been unloaded meanwhile' : 'the job is not loaded' },
        // Undone by a bootout that stops the new host agent: the old job is loaded again only after it has stopped.
        { kind: 'run', argv: [...launchctl, 'bootstrap', this.domainName(domain), file], hint: BOOTSTRAP_HINT, retry: BOOTSTRAP_BUSY, undo: [{ kind: 'run', argv: [...launchctl, 'bootout', target], settle: settleOf(target, name, limactl) }] },
      ],
      done: state === 'idle' ? [`${target} was loaded but not running: it was loaded again from the new file`] : [],
    };
  }

  /**
   * An instance someone started by hand: the job's `limactl start` would find it Running and exit 0
   * at once (cmd/limactl/start.go), so launchd would not supervise it until the next login or boot.
   * One question to Lima; a job of ours that runs (a switch, or a kickstart) is not "outside".
   */
  private async startedOutside(request: EnableRequest, steps: Step[]): Promise<string[]> {
    if (steps.some((s) => s.kind === 'run' && (s.settle || s.argv.includes('kickstart')))) return [];
    const name = request.instance.name;
    const lima = await listInstances(request.limactl, [name]);
    const instance = lima.answered ? lima.instances.get(name) : undefined;
    if (instance?.status !== 'Running') return [];
    if (instance.autoStartedIdentifier === agentLabel(name) || instance.autoStartedIdentifier === daemonLabel(name)) return [];
    return [[
      `instance "${name}" is already running, started outside launchd (by \`limactl start\`?): the job will find it running and exit at once, and launchd will not restart it after a crash until the next ${request.condition === 'boot' ? 'boot' : 'login'}.`,
      `To hand it over to launchd now: ${formatArgv(['limactl', 'stop', name])}, then ${formatArgv(['limactl-autostart', 'enable', name, `--condition=${request.condition}`, '--now'])}`,
    ].join('\n')];
  }

  /** sudo rm of the LaunchDaemon plist; undone by installing the saved content again. */
  private removeDaemon(file: string): Part {
    const saved = this.restoreDaemon(file);
    return { steps: [{ kind: 'run', argv: ['sudo', 'rm', '-f', '--', file], undo: saved.steps }], warnings: saved.warnings };
  }

  /** Steps that put the LaunchDaemon plist back as it is now, read while planning. */
  private restoreDaemon(file: string): { steps: Step[]; warnings: string[] } {
    try {
      return { steps: installDaemon(readRegularFile(file), file), warnings: [] };
    } catch (err) {
      return { steps: [], warnings: [`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): if a later step fails, it cannot be restored`] };
    }
  }

  /** The plist must read back as exactly the values that went in; anything else is a bug in the template or the escaping, and must never reach launchd. */
  private renderPlist(input: ServiceInput): string {
    const values = plistFor(input);
    const text = render('io.lima-vm.INSTANCE.plist', { header: headerLine(input.condition, input.keepAlive), ...values });
    let parsed: unknown;
    try {
      parsed = parsePlist(text);
    } catch (err) {
      throw new Error(`rendered plist does not parse: ${(err as Error).message}`);
    }
    if (!isDeepStrictEqual(parsed, values)) throw new Error(`rendered plist does not read back as the values that went in:\n${JSON.stringify(parsed)}\n${JSON.stringify(values)}`);
    return text;
  }
}

/** What a bootout of a running job waits for: launchd has let go of it, and its host agent has stopped. */
function settleOf(target: string, instance: string, limactl: string): RunStep['settle'] {
  return {
    boundSec: SETTLE_TIMEOUT_SEC,
    checks: [
      // launchctl print exits 113 for a job launchd does not know; any failure means the same here.
      { argv: ['launchctl', 'print', target], until: 'fails', awaited: `\`launchctl print ${target}\` fails`, still: `launchd still knows ${target}` },
      // A new job started while the old host agent still shuts the VM down finds the instance
      // Running, and `limactl start` exits 0 at once: with KeepAlive {SuccessfulExit=false} launchd never retries.
      { argv: [limactl, 'list', '--json', instance], until: { lacks: '"status":"Running"' }, awaited: `Lima no longer reports "${instance}" Running`, still: `Lima still reports "${instance}" Running` },
    ],
  };
}

/** A bootout that, when it succeeded and a later step fails, is undone by loading the job again. */
function bootoutStep(sudo: boolean, domain: string, target: string, file: string, settle?: RunStep['settle']): RunStep {
  const launchctl = sudo ? ['sudo', 'launchctl'] : ['launchctl'];
  return {
    kind: 'run',
    argv: [...launchctl, 'bootout', target],
    ...(settle ? { settle } : {}),
    undo: [{ kind: 'run', argv: [...launchctl, 'bootstrap', domain, file], retry: BOOTSTRAP_BUSY }],
    undoLast: true,
  };
}

/**
 * A LaunchDaemon plist must be owned by root and writable by nobody else, or launchd refuses it:
 * stage a copy the user can write, then let `install` copy it with owner and mode in one step.
 */
function installDaemon(content: string | Buffer, file: string, undo?: Step[]): Step[] {
  // Absolute: a relative TMPDIR starting with '-' would reach install as an option.
  const staging = path.resolve(os.tmpdir(), `limactl-autostart-${randomBytes(6).toString('hex')}.plist`);
  return [
    { kind: 'write', path: staging, content, mode: 0o600, temporary: true },
    { kind: 'run', argv: ['sudo', 'install', '-m', '644', '-o', 'root', '-g', 'wheel', staging, file], ...(undo ? { undo } : {}) },
  ];
}

/**
 * launchd opens StandardOutPath and StandardErrorPath after it has switched to UserName
 * (launchd.plist(5), UserName and StandardOutPath); a file that account cannot open fails the
 * job with 78 (EX_CONFIG) before `limactl` runs, and keep-alive retries it for ever. So both
 * files exist and belong to that account before the daemon is loaded: a missing one is created
 * (undone by removing it), one of another owner is given to it (undone by giving it back).
 * `uid` is the account's uid when it is known here (the user who runs this); another account's
 * is not looked up, and its files are given to it whoever owns them now.
 */
function daemonLogSteps(dir: string, user: string, uid: number | undefined): Step[] {
  return launchdLogPaths(dir).flatMap((file): Step[] => {
    if (fileType(file) === 'none') {
      return [{ kind: 'run', argv: ['sudo', 'install', '-m', '644', '-o', user, '/dev/null', file], undo: [{ kind: 'run', argv: ['sudo', 'rm', '-f', '--', file] }] }];
    }
    // A symbolic link is followed, by chown too; what it points to must be a file.
    const st = statSync(file, { throwIfNoEntry: false });
    if (!st?.isFile()) {
      const what = st ? (st.isDirectory() ? 'a directory' : 'not a regular file') : 'a dangling symbolic link';
      throw new UserError(`${file} is ${what}, not a file: launchd could not open it as the daemon's log, and the job would fail with exit 78 at every try`, 'Move it away, then run the command again.');
    }
    if (uid !== undefined && st.uid === uid) return [];
    return [{ kind: 'run', argv: ['sudo', 'chown', user, file], undo: [{ kind: 'run', argv: ['sudo', 'chown', `${st.uid}:${st.gid}`, file] }] }];
  });
}

/** Lima stops and starts an agent it started through gui/<uid> only (pkg/autostart/launchd/launchd.go). */
function userDomainAdvice(name: string, target: string, now: boolean): string[] {
  const gui = target.replace(/^user\//, 'gui/');
  return [
    ...(now ? [`\`limactl stop ${name}\` will not be able to stop this job: Lima stops an instance its agent started with \`launchctl bootout ${gui}\`, which does not exist here. To stop it: ${formatArgv(['limactl-autostart', 'disable', name, '--now'])}, or launchctl bootout ${target}`] : []),
    `On a Mac nobody logs in to at the GUI (headless), use --condition=boot: a LaunchDaemon starts at boot, and \`limactl stop\` stops it.`,
  ];
}

/**
 * The services block of `launchctl print DOMAIN`: one line per job, "PID STATUS LABEL", PID 0 or
 * "-" when not running, STATUS "-" before the first exit and a negative signal number after a kill.
 */
export function parseServices(text: string): { label: string; pid: number | null; lastExitCode: number | null }[] {
  const block = /^\s*services = \{\n([\s\S]*?)^\s*\}/m.exec(text)?.[1] ?? '';
  return block.split('\n').flatMap((line) => {
    const m = /^\s*(-|\d+)\s+(-|-?\d+)\s+(\S+)\s*$/.exec(line);
    if (!m) return [];
    const pid = m[1] === '-' ? 0 : Number(m[1]);
    return [{ label: m[3]!, pid: pid > 0 ? pid : null, lastExitCode: m[2] === '-' ? null : Number(m[2]) }];
  });
}
