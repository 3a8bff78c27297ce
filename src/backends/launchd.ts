import { lstatSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { Backend, DisableRequest, EnableRequest, Facts, Job, LogSource, Plan, Registration, RunStep, ServiceFile, Step } from '../model.js';
import { type Host, instanceLock, systemPath } from '../host.js';
import { run } from '../exec.js';
import { listInstances, vmnetNetwork } from '../lima.js';
import { render } from '../render.js';
import { fileType, present, readRegularFile, readRegularFileEnd } from '../files/fs.js';
import { parsePlist, plistSettings } from '../files/plist.js';
import { hostAgentLogs, listRegistrations, readServiceFile, replacedNote } from '../files/registration.js';
import { agentLabel, daemonLabel, headerLine, lastVmStopped, launchdLogPaths, plistFor, servicePath, type ServiceInput } from '../service.js';
import { BOOTSTRAP_RETRY_SEC, SETTLE_TIMEOUT_SEC } from '../tunables.js';
import { UsageError, UserError, excerpt, formatArgv } from '../errors.js';
import { planOf, replaceable, type Part } from '../plan.js';

// launchctl(1): `bootout` may return before launchd has finished tearing the job down, and a
// `bootstrap` meanwhile fails with 37 (EALREADY, "Operation already in progress") and then 5.
const BOOTSTRAP_BUSY = { codes: [37, 5], boundSec: BOOTSTRAP_RETRY_SEC, why: 'launchd may still be unloading a job' };

const BOOTSTRAP_HINT = `launchctl bootstrap fails with error 5 (Input/output error) when launchd will not load the plist:
- the job is still loaded (run \`launchctl bootout DOMAIN/LABEL\`, then try again);
- it is disabled in launchd's override database (\`launchctl enable DOMAIN/LABEL\`);
- the domain does not exist: gui/<uid> needs a GUI login; over SSH or on a headless Mac use --condition=boot;
- a LaunchDaemon plist is not owned by root:wheel or is writable by others;
- the plist is not valid for launchd (\`plutil -lint FILE\`).
Run \`launchctl print DOMAIN/LABEL\` and see the system log for details.`;

type Domain = Job['domain'];
/** Where a job of ours can be loaded: an agent in gui/<uid> (a GUI login) or user/<uid> (SSH, headless), a daemon in system. */
const DOMAINS: readonly Domain[] = ['gui', 'user', 'system'];

const labelOf = (domain: Domain, instance: string): string => (domain === 'system' ? daemonLabel(instance) : agentLabel(instance));

export class LaunchdBackend implements Backend {
  readonly manager = 'launchd' as const;
  readonly rewriteTakesEffect = 'a job launchd has loaded keeps its old settings until it is loaded again (the next login or boot, or `limactl-autostart disable NAME --now`, then `enable NAME --now`)';

  constructor(private readonly host: Host) {}

  private dir(domain: Domain): string {
    return domain === 'system' ? systemPath(this.host, 'Library', 'LaunchDaemons') : path.join(this.host.home, 'Library', 'LaunchAgents');
  }

  private file = (domain: Domain, instance: string): string => path.join(this.dir(domain), `${labelOf(domain, instance)}.plist`);
  private domainName = (domain: Domain): string => (domain === 'system' ? 'system' : `${domain}/${this.host.uid}`);
  private target = (domain: Domain, instance: string): string => `${this.domainName(domain)}/${labelOf(domain, instance)}`;

  /** gui/<uid> exists only while the user has a GUI login; over SSH only user/<uid> does. */
  private async agentDomain(): Promise<{ domain: 'gui' | 'user'; warning?: string }> {
    const gui = this.domainName('gui');
    const answer = await run(['launchctl', 'print', gui], { mayFail: 'a no is an answer', noInput: true });
    if (answer.exitCode === 0) return { domain: 'gui' };
    // No launchctl at all: a plan for macOS previewed elsewhere (`npm run demo` on Linux).
    if (answer.exitCode === undefined && !answer.timedOut) return { domain: 'gui', warning: `launchctl cannot be run here, so this is a preview: it assumes a GUI login (${gui})` };
    // launchctl(1): "A user domain may exist independently of a logged-in user".
    return { domain: 'user', warning: `launchd has no ${gui} domain (no GUI login: SSH or a headless Mac?), so the agent goes to ${this.domainName('user')}, the domain of background sessions, which can outlive the last logout.` };
  }

  async planEnable(request: EnableRequest): Promise<Plan> {
    const name = request.instance.name;
    const boot = request.condition === 'boot';
    const user = request.user ?? this.host.user;
    const who = excerpt(user); // from a daemon's file (migrate), it may be anything
    if (!boot && user !== this.host.user) {
      throw new UsageError(`--user ${request.user} applies only to --condition=boot`, 'A LaunchAgent always runs as the user who logs in; leave out --user, or use --condition=boot.');
    }
    const { domain, warning } = boot ? { domain: 'system' as const, warning: undefined } : await this.agentDomain();
    const file = this.file(domain, name);
    const other = this.file(boot ? 'gui' : 'system', name);
    const target = this.target(domain, name);
    const daemon = { userName: user, ...(user === this.host.user ? { home: this.host.home } : {}) };
    const content = await renderPlist({ ...request, ...(boot ? { daemon } : {}) });
    const replaced = present(file) ? replacedNote(this.read(this.registration(name, domain)), servicePath('darwin', request.limactl), this.host) : undefined;
    const parts: Part[] = [{ done: replaced ? [replaced] : [] }];
    // The new registration is written before the old one is removed: a failure (a cancelled sudo) never leaves neither.
    if (boot) {
      if (user !== this.host.user) parts.push({ warnings: [`the daemon runs as ${who}, who must be able to read and write ${request.instance.limaHome}`] });
      const previous = present(file) ? this.restoreDaemon(file) : { steps: [{ kind: 'run', argv: ['sudo', 'rm', '-f', '--', file] } as Step] };
      checkDaemonLogs(request.instance.dir, who, user === this.host.user ? this.host.uid : undefined);
      parts.push({ ...previous, steps: installDaemon(content, file, previous.steps) });
    } else {
      if (warning) parts.push({ warnings: [domain === 'user' ? [warning, ...userDomainAdvice(name, target, request.now)].join('\n') : warning] });
      parts.push({ steps: [{ kind: 'mkdir', path: path.dirname(file) }, { kind: 'write', path: file, content, mode: 0o644 }] });
    }
    // The override database outlives the plist: a job once disabled would not load.
    parts.push({ steps: [{ kind: 'run', argv: [...launchctl(domain), 'enable', target] }] });
    if (present(other)) {
      parts.push(boot ? { steps: [{ kind: 'remove', path: other }] } : this.removeDaemon(other));
      parts.push({ done: [`removed the ${boot ? 'LaunchAgent' : 'LaunchDaemon'} ${other}: the instance now starts at ${request.condition}, not at ${boot ? 'login' : 'boot'}`] });
      // Without --now the old job, if it runs, goes on running the instance: say until when.
      for (const d of request.now ? [] : DOMAINS.filter((d) => (d === 'system') !== boot)) {
        const old = this.target(d, name);
        if ((await this.jobState(old)) === 'running') parts.push({ done: [`${old} still runs the instance, until ${d === 'system' ? 'the next reboot' : 'its launchd session ends'}; to hand it to ${target} now: ${formatArgv(['limactl-autostart', 'enable', name, `--condition=${request.condition}`, '--now'])}`] });
      }
    }
    if (request.now) {
      // An agent loaded over SSH (user/<uid>) would keep running beside one in gui/<uid>.
      for (const d of DOMAINS.filter((d) => d !== domain)) parts.push(await this.bootout(d, name, request.limactl));
      parts.push(await this.start(domain, name, request.limactl));
      parts.push({ warnings: await startedOutside(request, parts.flatMap((p) => p.steps ?? [])) });
    }
    parts.push({ done: [`instance "${name}" starts at ${boot ? `boot as ${who}: LaunchDaemon` : 'login: LaunchAgent'} ${file} (${target})`] });
    return planOf(`enable "${name}" at ${request.condition} (launchd, keep-alive ${request.keepAlive})`, parts);
  }

  async planDisable(request: DisableRequest): Promise<Plan> {
    const name = request.instance;
    // What launchd has loaded, not only files: a job whose plist a switch without --now removed is still loaded.
    const parts: Part[] = [];
    if (request.now) for (const domain of DOMAINS) parts.push(await this.bootout(domain, name));
    if (parts.some((p) => p.steps?.length)) parts.push({ done: ['stopped the loaded job (the instance shuts down)'] });
    const [agent, daemon] = [this.file('gui', name), this.file('system', name)];
    if (present(agent)) parts.push({ steps: [{ kind: 'remove', path: agent }], done: [`removed the LaunchAgent ${agent}`] });
    if (present(daemon)) parts.push(this.removeDaemon(daemon), { done: [`removed the LaunchDaemon ${daemon}`] });
    const plan = planOf(`disable "${name}" (launchd)`, parts);
    if (plan.steps.length > 0 && !request.now) plan.done.push('a running instance keeps running (its job stays loaded until its launchd session ends or the Mac restarts); add --now to stop it now');
    return plan;
  }

  registrations(): Registration[] {
    return (['gui', 'system'] as const).flatMap((domain) => {
      const pattern = domain === 'system' ? /^io\.lima-vm\.daemon\.(.+)\.plist$/ : /^io\.lima-vm\.autostart\.(.+)\.plist$/;
      return listRegistrations(this.dir(domain), pattern, (instance) => this.registration(instance, domain));
    });
  }

  read(registration: Registration): ServiceFile {
    return readServiceFile(registration, plistSettings(registration));
  }

  private registration(instance: string, domain: Domain): Registration {
    return { kind: domain === 'system' ? 'LaunchDaemon' : 'LaunchAgent', instance, file: this.file(domain, instance), label: labelOf(domain, instance) };
  }

  locks = (instance: string): { file: string; what: string }[] => [instanceLock(this.host, instance)];

  /** The files the plists name (what `limactl start` says) and Lima's ha.stderr.log (what the host agent says). */
  logs(instance: string): LogSource {
    const all = this.registrations().filter((r) => r.instance === instance).map((r) => this.read(r));
    return {
      files: [...new Set([...all.flatMap((f) => (f.unreadable === undefined ? f.logFiles : [])), ...hostAgentLogs(this.host, instance, all)])],
      registered: all.length > 0,
      notes: all.flatMap((f) => (f.unreadable === undefined ? [] : [`${f.registration.file}: ${f.unreadable}; the log files it names are not shown`])),
    };
  }

  /** One listing per domain, however many instances (`launchctl print system` needs no root); a missing domain answers non-zero. */
  async facts(instances: string[]): Promise<Facts[]> {
    // A daemon first: it starts the instance at boot. A file removed meanwhile (by a `disable`) is not registered.
    const read = instances.map((name) => (['system', 'gui'] as const).map((d) => this.registration(name, d)).filter((r) => present(r.file)).map((r) => this.read(r))
      .filter((f) => f.unreadable === undefined || present(f.registration.file)));
    const anyBoot = read.some((files) => files[0]?.condition === 'boot');
    const [fileVault, ...outputs] = await Promise.all([
      // A Mac with FileVault on waits at the unlock screen after a reboot: no daemon runs until then.
      anyBoot ? run(['fdesetup', 'isactive'], { mayFail: 'off, or unknown', noInput: true }) : undefined,
      ...DOMAINS.map((d) => run(['launchctl', 'print', this.domainName(d)], { mayFail: 'the domain may not exist', noInput: true })),
    ]);
    const jobs = new Map<string, Job>();
    outputs.forEach((out, i) => {
      if (out!.exitCode !== 0) return;
      for (const { label, pid, lastExitCode } of parseServices(out!.stdout)) {
        const service = `${this.domainName(DOMAINS[i]!)}/${label}`;
        jobs.set(service, { service, label, domain: DOMAINS[i]!, state: pid ? 'running' : lastExitCode ? 'failed' : 'loaded', pid, lastExitCode, killed: lastExitCode === -9 });
      }
    });
    const guiLogin = outputs[0]!.exitCode === 0;
    return instances.map((name, i) => {
      const files = read[i]!;
      const boot = files[0]?.condition === 'boot';
      const st = files[0] ? lstatSync(files[0].registration.file, { throwIfNoEntry: false }) : undefined;
      // Not loaded: where enable --now would load it.
      const domain: Domain = boot ? 'system' : guiLogin ? 'gui' : 'user';
      return {
        instance: name,
        manager: 'launchd',
        files,
        jobs: DOMAINS.flatMap((d) => jobs.get(this.target(d, name)) ?? []),
        service: { service: this.target(domain, name), label: labelOf(domain, name), domain },
        writtenAt: st?.mtimeMs,
        ...(st && boot ? { daemonFile: { uid: st.uid, mode: st.mode } } : {}),
        vmStopped: vmStopped(files[0]?.unreadable === undefined ? files[0]?.logFiles.at(-1) : undefined, name),
        ...(boot ? { unattended: { fileVault: fileVault?.exitCode === 0 && fileVault.stdout.trim() === 'true', vmnet: present(systemPath(this.host, 'private', 'etc', 'sudoers.d', 'lima')) ? undefined : vmnetNetwork(this.host.limaHome, name) } } : {}),
      };
    });
  }

  /** Anything but "not running" without a pid counts as running: a running VM is never booted out by mistake. */
  private async jobState(target: string): Promise<'absent' | 'idle' | 'running'> {
    const answer = await run(['launchctl', 'print', target], { mayFail: 'a no is an answer', noInput: true });
    if (answer.exitCode !== 0) return 'absent';
    return /^\s*state = not running\s*$/m.test(answer.stdout) && !/^\s*pid = \d+\s*$/m.test(answer.stdout) ? 'idle' : 'running';
  }

  /** Boots a loaded job out of `domain`. With `limactl` (a job is started afterwards), a running job is waited for. */
  private async bootout(domain: Domain, name: string, limactl?: string): Promise<Part> {
    const target = this.target(domain, name);
    const state = await this.jobState(target);
    if (state === 'absent') return {};
    const step = this.bootoutStep(domain, name, state === 'running' && limactl !== undefined ? settleOf(target, name, limactl) : undefined);
    return { steps: [{ ...step, mayFail: domain === 'system' ? 'the daemon may not be loaded' : 'it may have stopped meanwhile' }] };
  }

  /**
   * A running job is only kickstarted, which never restarts one: `enable --now` run again never restarts the VM.
   * Any other job is booted out (bootstrapping a loaded label fails with error 5) and bootstrapped
   * from the new file: a kickstart of a loaded idle job would start it with the old file's settings.
   */
  private async start(domain: Domain, name: string, limactl: string): Promise<Part> {
    const target = this.target(domain, name);
    const state = await this.jobState(target);
    if (state === 'running') {
      return {
        steps: [{ kind: 'run', argv: [...launchctl(domain), 'kickstart', target] }],
        done: [`${target} was already loaded: it keeps its previous settings until it is loaded again (\`limactl-autostart disable --now\`, then \`enable --now\`, or a ${domain === 'system' ? 'reboot' : 'new login'})`],
      };
    }
    const file = this.file(domain, name);
    return {
      steps: [
        { ...this.bootoutStep(domain, name), mayFail: state === 'idle' ? 'it may have been unloaded meanwhile' : 'the job is not loaded' },
        // Undone by a bootout that stops the new host agent: the old job is loaded again only after it has stopped.
        { kind: 'run', argv: [...launchctl(domain), 'bootstrap', this.domainName(domain), file], hint: BOOTSTRAP_HINT, retry: BOOTSTRAP_BUSY, undo: [{ kind: 'run', argv: [...launchctl(domain), 'bootout', target], settle: settleOf(target, name, limactl) }] },
      ],
      done: [...(state === 'idle' ? [`${target} was loaded but not running: it was loaded again from the new file`] : []), `started ${target}: the instance boots now`],
    };
  }

  /** A bootout that, when it succeeded and a later step fails, is undone by loading the job again. */
  private bootoutStep(domain: Domain, name: string, settle?: RunStep['settle']): RunStep {
    return {
      kind: 'run',
      argv: [...launchctl(domain), 'bootout', this.target(domain, name)],
      ...(settle ? { settle } : {}),
      undo: [{ kind: 'run', argv: [...launchctl(domain), 'bootstrap', this.domainName(domain), this.file(domain, name)], retry: BOOTSTRAP_BUSY }],
      undoLast: true,
    };
  }

  private removeDaemon(file: string): Part {
    const saved = this.restoreDaemon(file);
    return { steps: [{ kind: 'run', argv: ['sudo', 'rm', '-f', '--', file], undo: saved.steps }], warnings: saved.warnings };
  }

  /** Anything but a file there is refused before any step: `sudo rm` would fail part-way. */
  private restoreDaemon(file: string): { steps: Step[]; warnings?: string[] } {
    replaceable(file);
    try {
      return { steps: installDaemon(readRegularFile(file), file) };
    } catch (err) {
      return { steps: [], warnings: [`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): if a later step fails, it cannot be restored`] };
    }
  }
}

/** From the end of the job's stderr file. */
function vmStopped(stderr: string | undefined, name: string): string | undefined {
  try {
    return stderr && lastVmStopped(readRegularFileEnd(stderr, 16 * 1024).bytes.toString('utf8'), name);
  } catch {
    return undefined;
  }
}

const launchctl = (domain: Domain): string[] => (domain === 'system' ? ['sudo', 'launchctl'] : ['launchctl']);

async function renderPlist(input: ServiceInput): Promise<string> {
  const values = plistFor(input);
  return render('io.lima-vm.INSTANCE.plist', { header: headerLine(input.condition, input.keepAlive), ...values }, values, parsePlist);
}

/**
 * An instance started by hand: the job's `limactl start` would find it Running and exit 0 at once (cmd/limactl/start.go),
 * so launchd would not supervise it until the next login or boot. A job of ours that runs (a switch, a kickstart) is not.
 */
async function startedOutside(request: EnableRequest, steps: Step[]): Promise<string[]> {
  if (steps.some((s) => s.kind === 'run' && (s.settle || s.argv.includes('kickstart')))) return [];
  const name = request.instance.name;
  const lima = await listInstances(request.limactl, [name]);
  const instance = lima.answered ? lima.instances.get(name) : undefined;
  if (instance?.status !== 'Running' || instance.autoStartedIdentifier === agentLabel(name) || instance.autoStartedIdentifier === daemonLabel(name)) return [];
  return [[
    `instance "${name}" is already running, started outside launchd (by \`limactl start\`?): the job will find it running and exit at once, and launchd will not restart it after a crash until the next ${request.condition === 'boot' ? 'boot' : 'login'}.`,
    `To hand it over to launchd now: ${formatArgv(['limactl', 'stop', name])}, then ${formatArgv(['limactl-autostart', 'enable', name, `--condition=${request.condition}`, '--now'])}`,
  ].join('\n')];
}

/** What a bootout of a running job waits for: launchd has let go of it, and its host agent has stopped. */
function settleOf(target: string, instance: string, limactl: string): RunStep['settle'] {
  return {
    boundSec: SETTLE_TIMEOUT_SEC,
    checks: [
      // launchctl print exits 113 for a job launchd does not know; any failure means the same here.
      { argv: ['launchctl', 'print', target], until: 'fails', awaited: `\`launchctl print ${target}\` fails`, still: `launchd still knows ${target}` },
      // Else the new job finds the instance Running and exits 0: with KeepAlive {SuccessfulExit=false} launchd never retries.
      { argv: [limactl, 'list', '--json', instance], until: { lacks: '"status":"Running"' }, awaited: `Lima no longer reports "${instance}" Running`, still: `Lima still reports "${instance}" Running` },
    ],
  };
}

/**
 * launchd refuses a LaunchDaemon plist not root's or writable by others. root writes it from stdin, never from a file
 * the user could swap before sudo reads it: `tee` makes a new file root's, 0644. A wrong existing one is removed first.
 */
function installDaemon(content: string | Buffer, file: string, undo?: Step[]): Step[] {
  const st = lstatSync(file, { throwIfNoEntry: false });
  const wrong = st !== undefined && (st.uid !== 0 || (st.mode & 0o022) !== 0 || !st.isFile());
  return [
    ...(wrong ? [{ kind: 'run', argv: ['sudo', 'rm', '-f', '--', file] } as Step] : []),
    { kind: 'run', argv: ['sudo', 'tee', '--', file], input: content, ...(undo ? { undo } : {}) },
  ];
}

/**
 * launchd opens StandardOutPath and StandardErrorPath as UserName (launchd.plist(5)), and creates a missing one: one that
 * account cannot open fails the job with 78 (EX_CONFIG) at every start. Nothing privileged touches them: they are in the
 * user's own directory, where anything running as the user could plant a link. `uid`: the account's, if the user's own.
 */
function checkDaemonLogs(dir: string, user: string, uid: number | undefined): void {
  for (const file of launchdLogPaths(dir)) {
    if (fileType(file) === 'none') continue;
    let st: Stats | undefined;
    try {
      st = statSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UserError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`, 'launchd opens it as the daemon\'s log: make it a file, or remove it, then run the command again.');
    }
    const what = !st ? 'a dangling symbolic link' : st.isDirectory() ? 'a directory' : !st.isFile() ? 'not a regular file' : uid !== undefined && st.uid !== uid ? `owned by uid ${st.uid}, not by ${user}` : undefined;
    if (what) {
      throw new UserError(
        `${file} is ${what}: launchd opens the daemon's log as ${user}, could not open it, and the job would fail with exit 78 at every try`,
        `Remove it (it is in your own directory: no sudo is needed), then run the command again: rm ${formatArgv([file])}`,
      );
    }
  }
}

/** Lima stops and starts an agent it started through gui/<uid> only (pkg/autostart/launchd/launchd.go). */
function userDomainAdvice(name: string, target: string, now: boolean): string[] {
  return [
    ...(now ? [`\`limactl stop ${name}\` will not be able to stop this job: Lima stops an instance its agent started with \`launchctl bootout ${target.replace(/^user\//, 'gui/')}\`, which does not exist here. To stop it: ${formatArgv(['limactl-autostart', 'disable', name, '--now'])}, or launchctl bootout ${target}`] : []),
    'On a Mac nobody logs in to at the GUI (headless), use --condition=boot: a LaunchDaemon starts at boot, and `limactl stop` stops it.',
  ];
}

/**
 * The services block of `launchctl print DOMAIN`: "PID STATUS LABEL" a line, PID 0 or "-" when not
 * running, STATUS "-" before the first exit and a negative signal number after a kill.
 */
export function parseServices(text: string): { label: string; pid: number | null; lastExitCode: number | null }[] {
  const block = /^\s*services = \{\n([\s\S]*?)^\s*\}/m.exec(text)?.[1] ?? '';
  return block.split('\n').flatMap((line) => {
    const m = /^\s*(-|\d+)\s+(-|-?\d+)\s+(\S+)\s*$/.exec(line);
    return m ? [{ label: m[3]!, pid: Number(m[1]) > 0 ? Number(m[1]) : null, lastExitCode: m[2] === '-' ? null : Number(m[2]) }] : [];
  });
}
