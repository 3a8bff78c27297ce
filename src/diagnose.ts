import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Condition, Facts, Job, LimaView, Manager, Place, Problem, ServiceFile, StatusRow } from './model.js';
import type { Host } from './host.js';
import type { LimaList } from './lima.js';
import type { Reach } from './reach.js';
import { headerAge, launchdLogPaths } from './service.js';
import { serviceLimaHome } from './files/registration.js';
import { excerpt, formatArgv, quote } from './errors.js';
import { docs, packageVersion } from './version.js';
import { LAUNCHD_THROTTLE_INTERVAL } from './tunables.js';

/** launchd's exit status for a job it could not set up (sysexits(3) EX_CONFIG: a log file it cannot open). */
const EX_CONFIG = 78;

function reEnable(instance: string, condition: Condition, keepAlive: boolean | null, now = false): string {
  return formatArgv(['limactl-autostart', 'enable', instance, `--condition=${condition}`, ...(keepAlive === false ? ['--keep-alive=false'] : []), ...(now ? ['--now'] : [])]);
}

/** Starts the instance through its job: a `limactl start` of a registered instance would run it outside the job. */
function startNow(instance: string, condition: Condition | 'none', keepAlive: boolean | null): string {
  return condition === 'none' ? formatArgv(['limactl', 'start', instance]) : reEnable(instance, condition, keepAlive, true);
}

const disableNow = (instance: string): string => formatArgv(['limactl-autostart', 'disable', instance, '--now']);

const logHint = (instance: string): string => `see \`${formatArgv(['limactl-autostart', 'logs', instance])}\``;

/** One status row: the facts, Lima's view of the instance, and every problem the two show together. */
export function diagnose(host: Host, facts: Facts, list: LimaList, reached?: Reach): StatusRow {
  const name = facts.instance;
  const file = facts.files.at(0);
  const condition = file?.condition ?? 'none';
  const keepAlive = file === undefined || file.unreadable !== undefined ? null : file.keepAlive;
  const job = deciding(facts, condition);
  const notes: string[] = [];
  // launchd lists a job's last exit status while it runs again; systemd keeps it while it waits to restart.
  if (keepAlive && job?.killed && (facts.manager === 'launchd' || job.state === 'restarting')) notes.push(sigkillNote(facts.manager, name, job.pid !== null));
  // The host agent exits 0 when the VM dies; the service's script made that a failure, and said so.
  if (keepAlive && facts.vmStopped) notes.push(`the VM stopped on its own, and keep-alive ${job?.state === 'running' ? 'started it again' : 'starts it again'}: the service said ${quote(facts.vmStopped, 300)}`);
  const row: StatusRow = {
    instance: name,
    condition,
    keepAlive,
    file: file?.registration.file ?? null,
    writtenBy: file?.unreadable === undefined ? (file?.writtenBy ?? null) : null,
    manager: facts.manager,
    service: job?.service ?? facts.service.service,
    state: job?.state ?? (facts.manager === 'launchd' ? 'not-loaded' : 'unknown'),
    pid: job?.state === 'running' ? job.pid : null,
    lastExitCode: job?.lastExitCode ?? null,
    problems: file ? fileProblems(host, file) : [],
    notes,
    lima: limaView(list, name, job?.label ?? facts.service.label, reached),
  };
  const byManager = facts.manager === 'launchd' ? launchdProblems : systemdProblems;
  const writtenBeforeBoot = facts.writtenAt !== undefined && facts.writtenAt < Date.now() - os.uptime() * 1000;
  row.problems.push(...byManager(host, facts, row, job), ...joinedProblems(row, (job ?? facts.service).domain, writtenBeforeBoot));
  return row;
}

/** The job that runs the registration: the unit; on launchd a daemon for boot, an agent (gui/<uid> before user/<uid>) for login, any without a file. */
function deciding(facts: Facts, condition: Condition | 'none'): Job | undefined {
  if (facts.manager === 'systemd') return facts.jobs[0];
  const daemon = facts.jobs.find((j) => j.domain === 'system');
  const agent = facts.jobs.find((j) => j.domain !== 'system');
  return condition === 'boot' ? daemon : condition === 'login' ? agent : (daemon ?? agent);
}

function limaView(list: LimaList, name: string, label: string, reached: Reach | undefined): LimaView {
  const instance = list.answered ? list.instances.get(name) : undefined;
  if (!instance) return { status: null, hostAgentPID: null, startedByService: list.answered ? false : null, reachable: null };
  return { status: instance.status, hostAgentPID: instance.hostAgentPID, startedByService: instance.autoStartedIdentifier === label, reachable: reached ?? null };
}

function fileProblems(host: Host, file: ServiceFile): Problem[] {
  const { instance } = file.registration;
  const fix = reEnable(instance, file.condition, file.unreadable === undefined ? file.keepAlive : null);
  if (file.unreadable !== undefined) return [{ problem: `cannot read ${file.registration.file}: ${file.cause}`, fix }];
  const problems: Problem[] = [];
  if (!existsSync(path.join(host.limaHome, instance, 'lima.yaml'))) {
    problems.push({ problem: `the instance no longer exists in ${host.limaHome}`, fix: disableNow(instance) });
  }
  if (file.program !== undefined && !existsSync(file.program)) {
    problems.push({ problem: `the service runs ${excerpt(file.program)}, which no longer exists (Lima moved, upgraded or uninstalled?)`, fix });
  }
  const limaHome = serviceLimaHome(file, host.home);
  if (file.program !== undefined && limaHome !== host.limaHome) {
    const theirs = excerpt(file.limaHome ?? limaHome);
    problems.push({ problem: `the service uses LIMA_HOME=${theirs}, but LIMA_HOME here is ${host.limaHome}`, fix: `${fix}   # or run status with LIMA_HOME=${theirs}` });
  }
  if (file.writtenBy === 'lima') {
    problems.push({
      problem: `written by Lima (\`limactl start-at-login\` or \`limactl autostart\`): ${file.keepAlive ? 'restarted after a host agent crash only, not after the VM dies' : 'never restarted'}, and without a PATH for Homebrew's QEMU. Lima 2.2 and later write this file too: each program replaces the other's`,
      fix,
    });
  } else if (!file.header) {
    problems.push({ problem: 'not written by limactl-autostart, and not as Lima writes it (edited by hand?): no keep-alive guarantees', fix });
  } else if (headerAge(file.header) === 'older') {
    problems.push({ problem: `written by limactl-autostart ${file.header.version}, older than this ${packageVersion()}`, fix });
  }
  return problems;
}

function launchdProblems(host: Host, facts: Facts, { instance: name, condition, keepAlive }: StatusRow, job: Job | undefined): Problem[] {
  const [file, other] = [facts.files.at(0), facts.files.at(1)];
  const problems: Problem[] = [];
  if (facts.daemonFile && file) problems.push(...daemonFileProblems(file.registration.file, facts.daemonFile));
  if (other) {
    problems.push({ problem: `both a LaunchAgent (${other.registration.file}) and a LaunchDaemon are registered: the instance would be started twice`, fix: `${reEnable(name, 'boot', keepAlive)}   # or --condition=login to keep the agent` });
  }
  if (condition === 'none' && job) {
    problems.push({ problem: `${job.service} is loaded but has no file: it will not start again after a reboot`, fix: disableNow(name) });
  }
  if (facts.unattended?.fileVault) {
    problems.push({
      problem: 'FileVault is on: after a reboot this Mac waits at the unlock screen, and no LaunchDaemon runs until someone unlocks it',
      fix: 'sudo fdesetup authrestart   # for a planned reboot; to start unattended after any reboot, turn FileVault off',
    });
  }
  if (facts.unattended?.vmnet) {
    problems.push({
      problem: `its lima.yaml uses the socket_vmnet network "${facts.unattended.vmnet}", which needs Lima's sudoers file to start without a terminal: at boot the start fails`,
      fix: 'limactl sudoers >etc_sudoers.d_lima && sudo install -o root etc_sudoers.d_lima /private/etc/sudoers.d/lima',
    });
  }
  const agents = facts.jobs.filter((j) => j.domain !== 'system');
  if (agents.length > 1) {
    problems.push({ problem: `the agent is loaded twice (${agents.map((j) => j.service).join(' and ')}): two host agents for one instance`, fix: `launchctl bootout ${agents[1]!.service}` });
  } else if (condition === 'login' && job?.domain === 'user') {
    problems.push({
      problem: `${job.service} is loaded in launchd's user domain (enabled over SSH or without a GUI login): \`limactl stop ${name}\` cannot stop it (Lima stops an agent through gui/<uid> only), and only ${disableNow(name)} or launchctl bootout ${job.service} can`,
      fix: `${reEnable(name, 'boot', keepAlive, true)}   # a headless Mac; from a GUI login: ${reEnable(name, 'login', keepAlive, true)}`,
    });
  }
  if (job?.state === 'failed' && job.lastExitCode === EX_CONFIG) {
    // The fix removes the log files, which launchd then creates as the account: nothing privileged acts
    // on a path in the user's directory, where anything running as the user could plant a link.
    const owner = excerpt((file?.unreadable === undefined ? file?.userName : undefined) ?? host.user);
    const logs = launchdLogPaths(path.join(host.limaHome, name));
    const sudo = job.domain === 'system' ? 'sudo ' : '';
    problems.push({
      problem: `launchd could not set the job up (exit 78, EX_CONFIG), most likely because ${owner} cannot open its log files ${logs.join(' and ')} (owned by someone else, in a directory ${owner} cannot write, or on a volume not mounted yet)${keepAlive ? `; launchd tries again every ${LAUNCHD_THROTTLE_INTERVAL} s, for ever` : ''}`,
      fix: `rm -f ${formatArgv(logs)}${keepAlive ? `   # launchd tries again within ${LAUNCHD_THROTTLE_INTERVAL} s` : ` && ${sudo}launchctl kickstart ${job.service}`}`,
    });
  } else if (job?.state === 'failed') {
    problems.push({
      problem: `the host agent exited with ${job.lastExitCode! < 0 ? `signal ${-job.lastExitCode!}` : `code ${job.lastExitCode}`}; ${logHint(name)}`,
      fix: startNow(name, condition, keepAlive),
    });
  }
  return problems;
}

/** launchd refuses a LaunchDaemon plist that is not root's or that others can write. */
function daemonFileProblems(file: string, st: { uid: number; mode: number }): Problem[] {
  if (st.uid === 0 && (st.mode & 0o022) === 0) return [];
  const owner = st.uid === 0 ? '' : `owned by uid ${st.uid}, not root`;
  const writers = [st.mode & 0o020 ? 'its group' : '', st.mode & 0o002 ? 'others' : ''].filter(Boolean).join(' and ');
  const mode = writers ? `writable by ${writers} (mode ${(st.mode & 0o777).toString(8)})` : '';
  return [{
    problem: `${file} is ${[owner, mode].filter(Boolean).join(' and ')}: launchd refuses to load it`,
    fix: `sudo chown root:wheel ${formatArgv([file])} && sudo chmod 644 ${formatArgv([file])}`,
  }];
}

function systemdProblems(host: Host, facts: Facts, { instance: name, condition }: StatusRow, job: Job | undefined): Problem[] {
  const unit = facts.service.service;
  const problems: Problem[] = [];
  if (condition !== 'none') {
    if (facts.unit?.loadState === 'not-found') {
      problems.push({ problem: 'systemd has not read the unit file yet', fix: 'systemctl --user daemon-reload' });
    } else if (facts.unit && facts.unit.fileState !== 'enabled') {
      problems.push({ problem: `the unit is ${facts.unit.fileState || 'not enabled'}: it will not start at ${condition}`, fix: `systemctl --user enable ${unit}` });
    }
    if (condition === 'boot' && !facts.lingering) {
      problems.push({ problem: `lingering is off for ${host.user}: the user manager, and the instance, start only at login`, fix: `loginctl enable-linger ${host.user}` });
    }
  }
  const state = job?.state;
  if (condition === 'none' && (state === 'running' || state === 'restarting')) {
    problems.push({ problem: `${unit} is running but has no unit file: it will not start again`, fix: disableNow(name) });
  }
  const exit = job?.lastExitCode ?? 'unknown';
  if (state === 'start-limit-hit') {
    problems.push({ problem: `systemd gave up restarting it (start limit hit; last exit code ${exit}); ${logHint(name)}`, fix: `systemctl --user reset-failed ${unit} && systemctl --user start ${unit}` });
  } else if (state === 'failed') {
    problems.push({ problem: `the host agent failed (last exit code ${exit}); ${logHint(name)}`, fix: `systemctl --user start ${unit}` });
  }
  return problems;
}

/** `limactl stop --force` SIGKILLs the host agent (Lima's pkg/instance/stop.go); keep-alive's restart surprises a user who meant it to stay down. */
function sigkillNote(manager: Manager, instance: string, restarted: boolean): string {
  return [
    `the host agent was killed by SIGKILL (as \`limactl stop --force\` does), which keep-alive counts as a crash: ${manager} ${restarted ? 'started it again' : 'starts it again shortly'}.`,
    `To stop the instance and keep it stopped: ${disableNow(instance)}, or \`limactl stop ${instance}\` without --force (${docs('troubleshooting.md')}: "The instance came back after limactl stop --force")`,
  ].join(' ');
}

/** What only the service manager's and Lima's views together show. */
function joinedProblems(row: StatusRow, domain: Place['domain'], writtenBeforeBoot: boolean): Problem[] {
  const { instance: name, manager, lima } = row;
  const problems: Problem[] = [];
  const start = startNow(name, row.condition, row.keepAlive);
  const stopThenStart = `${formatArgv(['limactl', 'stop', name])} && ${start}`;
  if (lima.reachable?.ok === false) {
    problems.push({
      problem: `Lima says the instance is Running, but ${lima.reachable.reason}: the VM may be hung, or still booting; ${logHint(name)}`,
      fix: `limactl shell ${name} true   # if it stays unanswered: ${stopThenStart}`,
    });
  }
  if (row.condition === 'none') return problems;
  const jobRuns = row.state === 'running' || row.state === 'restarting';
  if (jobRuns && (lima.status === 'Stopped' || lima.status === 'Broken')) {
    const restart = manager === 'systemd' ? `systemctl --user restart ${row.service}` : `${domain === 'system' ? 'sudo ' : ''}launchctl kickstart -k ${row.service}`;
    problems.push({
      problem: `${manager} runs ${row.service}, but Lima says the instance is ${lima.status}: the host agent may be stuck, or a stale ha.sock or ha.pid left by an unclean shutdown keeps it from starting; ${logHint(name)}`,
      fix: `${formatArgv(['limactl', 'stop', '--force', name])}; ${restart}`,
    });
  }
  // A file written since the last boot waits for the next boot or login, as `enable` without --now
  // promises: a state, not a problem. Older, the boot (or a GUI login since) should have loaded it.
  // An instance running outside its agent says more than that its agent is not loaded.
  const notLoaded = manager === 'launchd' && row.state === 'not-loaded' && writtenBeforeBoot;
  const runsOutside = lima.status === 'Running' && lima.startedByService === false && !jobRuns;
  if (notLoaded && row.condition === 'boot') {
    problems.push({ problem: notLoadedText(row), fix: lima.status === 'Running' ? stopThenStart : start });
  } else if (runsOutside) {
    problems.push({
      problem: `Lima says the instance is Running, but it was not started by ${row.service}: keep-alive does not apply until it is stopped and started through ${manager}`,
      fix: stopThenStart,
    });
  } else if (notLoaded && domain === 'gui') {
    problems.push({ problem: notLoadedText(row), fix: start });
  }
  return problems;
}

/** The "Allow in the Background" switch (macOS 13 and later) is the likely cause. */
function notLoadedText(row: StatusRow): string {
  const when = row.condition === 'boot' ? 'boot' : 'login';
  return `registered for ${when} since before the last boot, but ${row.service} is not loaded in launchd's ${when === 'boot' ? 'system' : 'GUI login'} domain, and nothing restarts the instance: its "Allow in the Background" switch (System Settings › General › Login Items) is likely off; check with \`sfltool dumpbtm\` (${docs('troubleshooting.md')}: "macOS: the job is registered but never runs")`;
}
