import { statSync } from 'node:fs';
import { fileType, present, readRegularFile } from '../file-type.js';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { parsePlist } from '../plist-file.js';
import type { Backend, Condition, DisableRequest, EnableRequest, Plan, PlistRegistration, Problem, Registration, RunStep, Settle, StatusRow, Step } from '../model.js';
import { type Host, systemPath } from '../host.js';
import { run } from '../exec.js';
import { listInstances } from '../lima.js';
import { render, type TemplateName } from '../render.js';
import { headerLine } from '../header.js';
import { listRegistrations, readServiceFile, replacedNote } from '../registration.js';
import { serviceCommand, serviceEnvironment, servicePath, type EnvVar } from '../service-env.js';
import { LAUNCHD_THROTTLE_INTERVAL, STOP_TIMEOUT_SEC } from '../tunables.js';
import { UsageError, UserError, formatArgv } from '../errors.js';
import { fileProblems, logHint, reEnable, sigkillNote } from '../problems.js';

// Lima's own labels and locations: Lima's `limactl start`/`stop` look for exactly these.
export const agentLabel = (instance: string): string => `io.lima-vm.autostart.${instance}`;
export const daemonLabel = (instance: string): string => `io.lima-vm.daemon.${instance}`;
// The file names of those labels; the instance name is the first group.
const AGENT_FILE = /^io\.lima-vm\.autostart\.(.+)\.plist$/;
const DAEMON_FILE = /^io\.lima-vm\.daemon\.(.+)\.plist$/;

// A LaunchAgent may be loaded into gui/<uid> (a GUI login) or user/<uid> (SSH, headless);
// listing both lets one plist serve either domain.
const AGENT_SESSION_TYPES = ['Aqua', 'Background'];
// Standard, not Background as Lima writes it: Background jobs get throttled CPU and I/O,
// which is wrong for a VM that is the machine's main workload.
const PROCESS_TYPE = 'Standard';

/** What launchctl bootstrap answers while launchd still tears down a job booted out a moment ago: 37 (EALREADY), then 5. */
const BOOTSTRAP_BUSY = [37, 5];

/** sysexits(3) EX_CONFIG: launchd's exit status for a job it could not set up (a log file it cannot open). */
const EX_CONFIG = 78;
const SIGKILL = 9;

const BOOTSTRAP_HINT = [
  'launchctl bootstrap fails with error 5 (Input/output error) when launchd will not load the plist:',
  '- the job is still loaded (run `launchctl bootout DOMAIN/LABEL`, then try again);',
  '- it is disabled in launchd\'s override database (`launchctl enable DOMAIN/LABEL`);',
  '- the domain does not exist: gui/<uid> needs a GUI login; over SSH or on a headless Mac use --condition=boot;',
  '- a LaunchDaemon plist is not owned by root:wheel or is writable by others;',
  '- the plist is not valid for launchd (`plutil -lint FILE`).',
  'Run `launchctl print DOMAIN/LABEL` and see the system log for details.',
].join('\n');

/** Where an instance's LaunchAgent and LaunchDaemon plists are. */
interface Paths {
  agent: string;
  daemon: string;
}

/** A job as a domain listing shows it: its pid when running, its last exit status when it exited. */
interface Job {
  target: string;
  pid: number | null;
  lastExitCode: number | null;
}

/** What launchd has loaded, from one listing per domain. */
interface Loaded {
  jobs: Map<string, Job>;
  /** gui/<uid> answered: someone is logged in at the GUI, and a LaunchAgent loads there. */
  guiLogin: boolean;
}

/** The registration of an instance as status reads it from its files, before launchd's answer is known. */
interface PlistView {
  condition: Condition | 'none';
  file: string | null;
  keepAlive: boolean | null;
  /** A LaunchDaemon's UserName: the account that opens its log files. */
  userName: string | undefined;
  /** Problems of the files themselves: their reading, contents, owner and mode. */
  problems: Problem[];
}

export class LaunchdBackend implements Backend {
  readonly manager = 'launchd' as const;
  private domain: Promise<{ domain: string; warning?: string }> | undefined;

  constructor(private readonly host: Host) {}

  private paths(instance: string): Paths {
    return {
      agent: path.join(this.host.home, 'Library', 'LaunchAgents', `${agentLabel(instance)}.plist`),
      daemon: systemPath(this.host, 'Library', 'LaunchDaemons', `${daemonLabel(instance)}.plist`),
    };
  }

  /** gui/<uid> exists only while the user has a GUI login; over SSH only user/<uid> does. */
  private agentDomain(): Promise<{ domain: string; warning?: string }> {
    this.domain ??= (async () => {
      const gui = `gui/${this.host.uid}`;
      const answer = await run(['launchctl', 'print', gui], { mayFail: 'a no is an answer', noInput: true });
      if (answer.exitCode === 0) return { domain: gui };
      // No launchctl at all: a plan for macOS previewed elsewhere (`npm run demo` on Linux).
      if (answer.exitCode === undefined && !answer.timedOut) return { domain: gui, warning: `launchctl cannot be run here, so this is a preview: it assumes a GUI login (${gui})` };
      const user = `user/${this.host.uid}`;
      // launchctl(1): "A user domain may exist independently of a logged-in user"; jobs there
      // (the Background session) can outlive the last logout.
      return {
        domain: user,
        warning: `launchd has no ${gui} domain (no GUI login: SSH or a headless Mac?), so the agent goes to ${user}, the domain of background sessions, which can outlive the last logout.`,
      };
    })();
    return this.domain;
  }

  async planEnable(request: EnableRequest): Promise<Plan> {
    const name = request.instance.name;
    const paths = this.paths(name);
    const steps: Step[] = [];
    const warnings: string[] = [];
    const done: string[] = [];
    const agentExists = present(paths.agent);
    const daemonExists = present(paths.daemon);

    // The new registration is written before the old one is removed, so a failure (a cancelled
    // sudo, say) never leaves the instance with neither.
    if (request.condition === 'login') {
      if (request.user !== undefined && request.user !== this.host.user) {
        throw new UsageError(`--user ${request.user} applies only to --condition=boot`, 'A LaunchAgent always runs as the user who logs in; leave out --user, or use --condition=boot.');
      }
      const { domain, warning } = await this.agentDomain();
      const target = `${domain}/${agentLabel(name)}`;
      if (warning) warnings.push(domain.startsWith('user/') ? [warning, ...userDomainAdvice(name, target, request.now)].join('\n') : warning);
      if (agentExists) this.noteReplaced('LaunchAgent', request, done);
      steps.push(
        { kind: 'mkdir', path: path.dirname(paths.agent) },
        { kind: 'write', path: paths.agent, content: this.renderPlist(request, 'io.lima-vm.autostart.INSTANCE.plist', agentLabel(name)), mode: 0o644 },
        // The override database outlives the plist: a job once disabled would not load.
        { kind: 'run', argv: ['launchctl', 'enable', target] },
      );
      if (daemonExists) {
        steps.push(this.removeDaemon(paths.daemon, warnings));
        done.push(`removed the LaunchDaemon ${paths.daemon}: the instance now starts at login, not at boot`);
      }
      if (request.now) {
        // An agent loaded over SSH (user/<uid>) would keep running beside one in gui/<uid>.
        steps.push(...(await this.bootoutAgent(name, domain, request.limactl)));
        steps.push(...(await this.bootoutDaemon(name, request.limactl)));
        steps.push(...(await this.start(['launchctl'], domain, target, paths.agent, done, request.limactl, name)));
        warnings.push(...(await this.startedOutside(request, steps)));
      }
      done.push(`instance "${name}" starts at login: LaunchAgent ${paths.agent} (${target})`);
    } else {
      const user = request.user ?? this.host.user;
      const extra: EnvVar[] = user === this.host.user ? [{ name: 'HOME', value: this.host.home }] : [];
      if (user !== this.host.user) {
        warnings.push(`the daemon runs as ${user}, who must be able to read and write ${request.instance.limaHome}`);
      }
      if (daemonExists) this.noteReplaced('LaunchDaemon', request, done);
      const content = this.renderPlist(request, 'io.lima-vm.daemon.INSTANCE.plist', daemonLabel(name), { userName: user, extra });
      const target = `system/${daemonLabel(name)}`;
      const previous: Step[] = daemonExists ? this.restoreDaemon(paths.daemon, warnings) : [{ kind: 'run', argv: ['sudo', 'rm', '-f', '--', paths.daemon] }];
      steps.push(
        ...installDaemon(content, paths.daemon, previous),
        ...daemonLogSteps(request.instance.dir, user, user === this.host.user ? this.host.uid : undefined),
        { kind: 'run', argv: ['sudo', 'launchctl', 'enable', target] },
      );
      if (agentExists) {
        steps.push({ kind: 'remove', path: paths.agent });
        done.push(`removed the LaunchAgent ${paths.agent}: the instance now starts at boot, not at login`);
      }
      if (request.now) {
        steps.push(...(await this.bootoutAgent(name, undefined, request.limactl)));
        steps.push(...(await this.start(['sudo', 'launchctl'], 'system', target, paths.daemon, done, request.limactl, name)));
        warnings.push(...(await this.startedOutside(request, steps)));
      }
      done.push(`instance "${name}" starts at boot as ${user}: LaunchDaemon ${paths.daemon} (${target})`);
    }
    return { summary: `enable "${name}" at ${request.condition} (launchd, keep-alive ${request.keepAlive})`, steps, warnings, done };
  }

  async planDisable(request: DisableRequest): Promise<Plan> {
    const name = request.instanceName;
    const paths = this.paths(name);
    const daemonExists = present(paths.daemon);
    // Stopping comes first and looks at what launchd has loaded, not only at files: a job whose
    // plist an earlier switch removed without --now is still loaded.
    const steps: Step[] = request.now ? [...(await this.bootoutAgent(name)), ...(await this.bootoutDaemon(name))] : [];
    const warnings: string[] = [];
    const done: string[] = steps.length > 0 ? ['stopped the loaded job (the instance shuts down)'] : [];
    if (present(paths.agent)) {
      steps.push({ kind: 'remove', path: paths.agent });
      done.push(`removed the LaunchAgent ${paths.agent}`);
    }
    if (daemonExists) {
      steps.push(this.removeDaemon(paths.daemon, warnings));
      done.push(`removed the LaunchDaemon ${paths.daemon}`);
    }
    if (steps.length > 0 && !request.now) done.push('a running instance keeps running (its job stays loaded until its launchd session ends or the Mac restarts); add --now to stop it now');
    return { summary: `disable "${name}" (launchd)`, steps, warnings, done };
  }

  registrations(): Registration[] {
    const { agent, daemon } = this.paths('INSTANCE');
    return [
      ...listRegistrations(path.dirname(agent), AGENT_FILE, (instance) => this.registration(instance, 'LaunchAgent')),
      ...listRegistrations(path.dirname(daemon), DAEMON_FILE, (instance) => this.registration(instance, 'LaunchDaemon')),
    ];
  }

  private registration(instance: string, kind: 'LaunchAgent' | 'LaunchDaemon'): PlistRegistration {
    const paths = this.paths(instance);
    return kind === 'LaunchAgent'
      ? { format: 'plist', kind, instance, file: paths.agent, label: agentLabel(instance) }
      : { format: 'plist', kind, instance, file: paths.daemon, label: daemonLabel(instance) };
  }

  /** Says what an existing file was, when it is replaced by one this version writes. */
  private noteReplaced(kind: 'LaunchAgent' | 'LaunchDaemon', request: EnableRequest, done: string[]): void {
    const note = replacedNote(this.registration(request.instance.name, kind), servicePath(this.host, request.limactl));
    if (note) done.push(note);
  }

  /**
   * `launchctl print` of a job: not loaded (exit code other than 0), loaded and not running (its
   * program exited, as a job without KeepAlive does after a crash or a `limactl stop`), or running.
   * Anything but "not running" without a pid counts as running, so that a running VM is never
   * booted out by mistake.
   */
  private async jobState(target: string): Promise<'absent' | 'idle' | 'running'> {
    const answer = await run(['launchctl', 'print', target], { mayFail: 'a no is an answer', noInput: true });
    if (answer.exitCode !== 0) return 'absent';
    const idle = /^\s*state = not running\s*$/m.test(answer.stdout) && !/^\s*pid = \d+\s*$/m.test(answer.stdout);
    return idle ? 'idle' : 'running';
  }

  /**
   * Boots the agent out of every domain it is loaded in (but `except`): gui/<uid> and user/<uid>
   * are separate. With `limactl` (a job is started afterwards), a running job is waited for.
   */
  private async bootoutAgent(name: string, except?: string, limactl?: string): Promise<Step[]> {
    const steps: Step[] = [];
    for (const domain of [`gui/${this.host.uid}`, `user/${this.host.uid}`]) {
      if (domain === except) continue;
      const target = `${domain}/${agentLabel(name)}`;
      const state = await this.jobState(target);
      if (state !== 'absent') {
        steps.push({ ...bootout(['launchctl'], domain, target, this.paths(name).agent, settleFor(state, target, name, limactl)), mayFail: 'it may have stopped meanwhile' });
      }
    }
    return steps;
  }

  /** `launchctl print system/…` needs no root, so sudo is asked for only when there is work. */
  private async bootoutDaemon(name: string, limactl?: string): Promise<Step[]> {
    const target = `system/${daemonLabel(name)}`;
    const state = await this.jobState(target);
    if (state === 'absent') return [];
    return [{ ...bootout(['sudo', 'launchctl'], 'system', target, this.paths(name).daemon, settleFor(state, target, name, limactl)), mayFail: 'the daemon may not be loaded' }];
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
  private removeDaemon(file: string, warnings: string[]): RunStep {
    return { kind: 'run', argv: ['sudo', 'rm', '-f', '--', file], undo: this.restoreDaemon(file, warnings) };
  }

  /** Steps that put the LaunchDaemon plist back as it is now, read while planning. */
  private restoreDaemon(file: string, warnings: string[]): Step[] {
    let saved: Buffer;
    try {
      saved = readRegularFile(file);
    } catch (err) {
      warnings.push(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): if a later step fails, it cannot be restored`);
      return [];
    }
    return installDaemon(saved, file);
  }

  /**
   * --now: a job that is loaded and running is only kickstarted (which starts a job that is not
   * running and never restarts one), so running `enable --now` again, as provisioning tools do on
   * every run, never restarts the VM. Any other job is booted out (bootstrapping a loaded label
   * fails with error 5) and bootstrapped from the new file. A job that is loaded but not running
   * (a file Lima wrote, without KeepAlive, after its VM stopped) is reloaded that way too: booting
   * it out stops nothing, and a kickstart would start it with the old file's settings.
   */
  private async start(launchctl: string[], domain: string, target: string, file: string, done: string[], limactl: string, name: string): Promise<Step[]> {
    const state = await this.jobState(target);
    if (state === 'running') {
      done.push(`${target} was already loaded: it keeps its previous settings until it is loaded again (\`limactl-autostart disable --now\`, then \`enable --now\`, or a ${domain === 'system' ? 'reboot' : 'new login'})`);
      return [{ kind: 'run', argv: [...launchctl, 'kickstart', target] }];
    }
    if (state === 'idle') done.push(`${target} was loaded but not running: it was loaded again from the new file`);
    return [
      { ...bootout(launchctl, domain, target, file), mayFail: state === 'idle' ? 'it may have been unloaded meanwhile' : 'the job is not loaded' },
      // Undone by a bootout that stops the new host agent: the old job is loaded again only after it has stopped.
      { kind: 'run', argv: [...launchctl, 'bootstrap', domain, file], hint: BOOTSTRAP_HINT, retryOn: BOOTSTRAP_BUSY, undo: [{ kind: 'run', argv: [...launchctl, 'bootout', target], settle: { target, instance: name, limactl } }] },
    ];
  }

  async status(instances: string[]): Promise<StatusRow[]> {
    // The files are read while launchctl answers: it runs as processes of their own.
    const listed = this.listJobs();
    const files = instances.map((name) => this.plistView(name));
    const loaded = await listed;
    return instances.map((name, i) => this.statusOf(name, files[i]!, loaded));
  }

  /**
   * Three questions however many instances there are: one listing per domain a job of ours can
   * be loaded in. `launchctl print system` needs no root. A domain that does not exist (no GUI
   * login) answers non-zero and holds nothing.
   */
  private async listJobs(): Promise<Loaded> {
    const domains = [`gui/${this.host.uid}`, `user/${this.host.uid}`, 'system'];
    const outputs = await Promise.all(domains.map((d) => run(['launchctl', 'print', d], { mayFail: 'the domain may not exist', noInput: true })));
    const jobs = new Map<string, Job>();
    outputs.forEach((out, i) => {
      if (out.exitCode !== 0) return;
      for (const job of parseServices(out.stdout)) {
        const target = `${domains[i]}/${job.label}`;
        jobs.set(target, { target, pid: job.pid, lastExitCode: job.lastExitCode });
      }
    });
    return { jobs, guiLogin: outputs[0]!.exitCode === 0 };
  }

  /** Which file registers the instance, what it says, and what is wrong with it, without asking launchd. */
  private plistView(name: string): PlistView {
    const paths = this.paths(name);
    const hasAgent = present(paths.agent);
    const hasDaemon = present(paths.daemon);
    const none: PlistView = { condition: 'none', file: null, keepAlive: null, userName: undefined, problems: [] };
    if (!hasAgent && !hasDaemon) return none;
    // A daemon wins: it starts the instance at boot, before any login.
    const read = readServiceFile(this.registration(name, hasDaemon ? 'LaunchDaemon' : 'LaunchAgent'));
    // Removed between the look and the read (a `disable` running meanwhile): not registered.
    if (read.unreadable !== undefined && !present(read.registration.file)) return none;
    const keepAlive = read.unreadable === undefined ? read.keepAlive : null;
    const problems = fileProblems(this.host, read);
    if (hasDaemon) problems.push(...daemonFileProblems(paths.daemon));
    if (hasAgent && hasDaemon) {
      problems.push({ problem: `both a LaunchAgent (${paths.agent}) and a LaunchDaemon are registered: the instance would be started twice`, fix: `${reEnable(name, 'boot', keepAlive)}   # or --condition=login to keep the agent` });
    }
    return { condition: read.condition, file: read.registration.file, keepAlive, userName: read.unreadable === undefined ? read.userName : undefined, problems };
  }

  private statusOf(name: string, view: PlistView, loaded: Loaded): StatusRow {
    const { condition, file, keepAlive } = view;
    const { jobs, guiLogin } = loaded;
    const agentJobs = [`gui/${this.host.uid}`, `user/${this.host.uid}`].flatMap((d) => jobs.get(`${d}/${agentLabel(name)}`) ?? []);
    const daemonJob = jobs.get(`system/${daemonLabel(name)}`);
    const job = condition === 'boot' ? daemonJob : condition === 'login' ? agentJobs[0] : (daemonJob ?? agentJobs[0]);
    const problems: Problem[] = [...view.problems];
    const notes: string[] = [];
    if (condition === 'none' && job) {
      problems.push({ problem: `${job.target} is loaded but has no file: it will not start again after a reboot`, fix: formatArgv(['limactl-autostart', 'disable', name, '--now']) });
    }
    if (agentJobs.length > 1) {
      problems.push({ problem: `the agent is loaded twice (${agentJobs.map((j) => j.target).join(' and ')}): two host agents for one instance`, fix: `launchctl bootout ${agentJobs[1]!.target}` });
    } else if (condition === 'login' && job?.target.startsWith('user/')) {
      problems.push(userDomainProblem(name, job.target, keepAlive));
    }
    const state = job ? (job.pid ? 'running' : job.lastExitCode ? 'failed' : 'loaded') : 'not-loaded';
    if (state === 'failed' && job!.lastExitCode === EX_CONFIG) {
      problems.push(logFilesProblem(job!.target, logPaths(path.join(this.host.limaHome, name)), view.userName ?? this.host.user, keepAlive));
    } else if (state === 'failed') {
      problems.push({
        problem: `the host agent exited with ${job!.lastExitCode! < 0 ? `signal ${-job!.lastExitCode!}` : `code ${job!.lastExitCode}`}; ${logHint(name)}`,
        // Through its job: a `limactl start` of a boot registration would run the instance outside it.
        fix: condition === 'none' ? formatArgv(['limactl', 'start', name]) : reEnable(name, condition, keepAlive, true),
      });
    }
    // launchd lists a job's last exit status while it runs again; -9 is a SIGKILL.
    if (keepAlive && job?.lastExitCode === -SIGKILL) notes.push(sigkillNote('launchd', name, job.pid !== null));
    // Not loaded: where the agent would be, gui/<uid> with a GUI login, else user/<uid>, as enable --now would load it.
    const service = job?.target ?? (condition === 'boot' ? `system/${daemonLabel(name)}` : `${guiLogin ? 'gui' : 'user'}/${this.host.uid}/${agentLabel(name)}`);
    return {
      instance: name,
      condition,
      keepAlive,
      file,
      manager: 'launchd',
      service,
      state,
      pid: job?.pid ?? null,
      lastExitCode: job?.lastExitCode ?? null,
      problems,
      notes,
    };
  }

  private renderPlist(
    request: EnableRequest,
    template: TemplateName,
    label: string,
    daemon?: { userName: string; extra: EnvVar[] },
  ): string {
    const dir = request.instance.dir;
    const environment = serviceEnvironment(this.host, request.limactl, daemon?.extra);
    const view = {
      header: headerLine(request.condition, request.keepAlive),
      label,
      userName: daemon?.userName,
      programArguments: serviceCommand(request.limactl, request.instance.name),
      environment,
      workingDirectory: dir,
      stdoutPath: logPaths(dir)[0],
      stderrPath: logPaths(dir)[1],
      keepAlive: request.keepAlive,
      throttleInterval: LAUNCHD_THROTTLE_INTERVAL,
      exitTimeOut: STOP_TIMEOUT_SEC,
      processType: PROCESS_TYPE,
      sessionTypes: AGENT_SESSION_TYPES,
    };
    const text = render(template, view);
    // The plist must read back as exactly the values that went in; anything else is a bug in
    // the template or the escaping, and must never reach launchd.
    const expected: Record<string, unknown> = {
      Label: label,
      ...(daemon ? { UserName: daemon.userName } : {}),
      ProgramArguments: view.programArguments,
      EnvironmentVariables: Object.fromEntries(environment.map((e) => [e.name, e.value])),
      WorkingDirectory: view.workingDirectory,
      StandardOutPath: view.stdoutPath,
      StandardErrorPath: view.stderrPath,
      RunAtLoad: true,
      ...(request.keepAlive ? { KeepAlive: { Crashed: true, SuccessfulExit: false } } : {}),
      ThrottleInterval: LAUNCHD_THROTTLE_INTERVAL,
      ExitTimeOut: STOP_TIMEOUT_SEC,
      ProcessType: PROCESS_TYPE,
      ...(daemon ? {} : { LimitLoadToSessionType: AGENT_SESSION_TYPES }),
    };
    let parsed: unknown;
    try {
      parsed = parsePlist(text);
    } catch (err) {
      throw new Error(`rendered ${template} does not parse as a plist: ${(err as Error).message}`);
    }
    if (!isDeepStrictEqual(parsed, expected)) {
      throw new Error(`rendered ${template} does not read back as the values that went in:\n${JSON.stringify(parsed)}\n${JSON.stringify(expected)}`);
    }
    return text;
  }
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

/** StandardOutPath and StandardErrorPath of the instance in `dir`: Lima's names, absolute (launchd does not expand `~`). */
function logPaths(dir: string): [string, string] {
  return [path.join(dir, 'launchd.stdout.log'), path.join(dir, 'launchd.stderr.log')];
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
  return logPaths(dir).flatMap((file): Step[] => {
    const type = fileType(file);
    if (type === 'none') {
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

/** A LaunchAgent loaded in user/<uid>: what userDomainAdvice warned of, seen afterwards. */
function userDomainProblem(name: string, target: string, keepAlive: boolean | null): Problem {
  return {
    problem: `${target} is loaded in launchd's user domain (enabled over SSH or without a GUI login): \`limactl stop ${name}\` cannot stop it (Lima stops an agent through gui/<uid> only), and only ${formatArgv(['limactl-autostart', 'disable', name, '--now'])} or launchctl bootout ${target} can`,
    fix: `${reEnable(name, 'boot', keepAlive, true)}   # a headless Mac; from a GUI login: ${reEnable(name, 'login', keepAlive, true)}`,
  };
}

/** Exit 78: launchd could not set the job up, and with keep-alive tries again every ThrottleInterval. */
function logFilesProblem(target: string, logs: string[], owner: string, keepAlive: boolean | null): Problem {
  const files = formatArgv(logs);
  const sudo = target.startsWith('system/') ? 'sudo ' : '';
  return {
    problem: `launchd could not set the job up (exit 78, EX_CONFIG), most likely because ${owner} cannot open its log files ${logs.join(' and ')} (owned by someone else, in a directory ${owner} cannot write, or on a volume not mounted yet)${keepAlive ? `; launchd tries again every ${LAUNCHD_THROTTLE_INTERVAL} s, for ever` : ''}`,
    fix: `sudo touch ${files} && sudo chown ${owner} ${files}${keepAlive ? `   # launchd tries again within ${LAUNCHD_THROTTLE_INTERVAL} s` : ` && ${sudo}launchctl kickstart ${target}`}`,
  };
}

/** A bootout that, when it succeeded and a later step fails, is undone by loading the job again. */
function bootout(launchctl: string[], domain: string, target: string, file: string, settle?: Settle): RunStep {
  return {
    kind: 'run',
    argv: [...launchctl, 'bootout', target],
    ...(settle ? { settle } : {}),
    undo: [{ kind: 'run', argv: [...launchctl, 'bootstrap', domain, file], retryOn: BOOTSTRAP_BUSY }],
    undoLast: true,
  };
}

/** Only a bootout that stops a running job is waited for, and only when a job is started after it. */
function settleFor(state: string, target: string, instance: string, limactl: string | undefined): Settle | undefined {
  return state === 'running' && limactl !== undefined ? { target, instance, limactl } : undefined;
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

/** launchd refuses a LaunchDaemon plist that is not root's or that others can write. */
function daemonFileProblems(file: string): Problem[] {
  const st = statSync(file, { throwIfNoEntry: false });
  if (!st || st.uid === 0 && (st.mode & 0o022) === 0) return [];
  const owner = st.uid === 0 ? '' : `owned by uid ${st.uid}, not root`;
  const writers = [st.mode & 0o020 ? 'its group' : '', st.mode & 0o002 ? 'others' : ''].filter(Boolean).join(' and ');
  const mode = writers ? `writable by ${writers} (mode ${(st.mode & 0o777).toString(8)})` : '';
  return [{
    problem: `${file} is ${[owner, mode].filter(Boolean).join(' and ')}: launchd refuses to load it`,
    fix: `sudo chown root:wheel ${formatArgv([file])} && sudo chmod 644 ${formatArgv([file])}`,
  }];
}
