import { readFileSync } from 'node:fs';
import path from 'node:path';
import { compare, valid } from 'semver';
import type { Condition, EnableRequest, GeneratedBy } from './model.js';
import { PACKAGE_ROOT, packageVersion } from './version.js';
import { LAUNCHD_THROTTLE_INTERVAL, STOP_TIMEOUT_SEC, SYSTEMD_RESTART_SEC, SYSTEMD_START_LIMIT_BURST, SYSTEMD_START_LIMIT_INTERVAL_SEC } from './tunables.js';

// One values object per format: the template renders it, the read-back compares with it, and its keys say what is ours.

export type EnvVar = { name: string; value: string };

export type ServiceInput = Pick<EnableRequest, 'instance' | 'limactl' | 'condition' | 'keepAlive'> & {
  /** A LaunchDaemon's account, and HOME when it is the enabling user's. */
  daemon?: { userName: string; home?: string };
};

// launchd starts jobs with PATH=/usr/bin:/bin:/usr/sbin:/sbin, where neither limactl nor a
// Homebrew QEMU is found; the systemd user manager's PATH lacks Linuxbrew.
const HOMEBREW_DIRS = {
  darwin: ['/opt/homebrew/bin', '/opt/homebrew/sbin', '/usr/local/bin', '/usr/local/sbin'],
  linux: ['/home/linuxbrew/.linuxbrew/bin', '/home/linuxbrew/.linuxbrew/sbin', '/usr/local/bin', '/usr/local/sbin'],
};
const SYSTEM_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];

export function servicePath(platform: 'darwin' | 'linux', limactl: string): string {
  return [...new Set([path.dirname(limactl), ...HOMEBREW_DIRS[platform], ...SYSTEM_DIRS])].join(':');
}

/**
 * `limactl start INSTANCE --foreground` (launchd and systemd kill or loop a daemon) through templates/service.sh,
 * copied into the file so that the service keeps working when this program is upgraded or removed.
 */
export function serviceCommand(limactl: string, instance: string): string[] {
  const script = readFileSync(path.join(PACKAGE_ROOT, 'templates', 'service.sh'), 'utf8').split('\n').filter((line) => line.trim() !== '' && !/^\s*#/.test(line));
  return ['/bin/sh', '-c', `${script.join('\n')}\n`, 'limactl-autostart', limactl, instance];
}

/** The last line in a service's log where the script said that the VM stopped on its own (`say` in templates/service.sh). */
export const lastVmStopped = (log: string, instance: string): string | undefined =>
  log.split('\n').filter((line) => line.includes(`limactl-autostart: ${instance}: the VM stopped`)).at(-1);

function environment(s: ServiceInput, platform: 'darwin' | 'linux'): EnvVar[] {
  return [
    { name: 'LIMA_HOME', value: s.instance.limaHome },
    ...(s.daemon?.home ? [{ name: 'HOME', value: s.daemon.home }] : []),
    { name: 'PATH', value: servicePath(platform, s.limactl) },
  ];
}

/** StandardOutPath and StandardErrorPath: Lima's names, absolute (launchd does not expand `~`). */
export const launchdLogPaths = (dir: string): [string, string] => [path.join(dir, 'launchd.stdout.log'), path.join(dir, 'launchd.stderr.log')];

export const agentLabel = (instance: string): string => `io.lima-vm.autostart.${instance}`;
export const daemonLabel = (instance: string): string => `io.lima-vm.daemon.${instance}`;
export const unitName = (instance: string): string => `lima-vm@${instance}.service`;

/** Every plist key this program writes, in the order it writes them. */
export const PLIST_KEYS = [
  'Label', 'UserName', 'ProgramArguments', 'EnvironmentVariables', 'WorkingDirectory', 'StandardOutPath', 'StandardErrorPath',
  'RunAtLoad', 'KeepAlive', 'ThrottleInterval', 'ExitTimeOut', 'ProcessType', 'LimitLoadToSessionType',
] as const;
export type PlistValues = Partial<Record<(typeof PLIST_KEYS)[number], unknown>>;

/**
 * ProcessType Standard, not Lima's Background: Background jobs get throttled CPU and I/O.
 * An agent may load in gui/<uid> (Aqua) or user/<uid> (Background).
 */
export function plistFor(s: ServiceInput): PlistValues {
  const [stdout, stderr] = launchdLogPaths(s.instance.dir);
  return {
    Label: s.daemon ? daemonLabel(s.instance.name) : agentLabel(s.instance.name),
    ...(s.daemon ? { UserName: s.daemon.userName } : {}),
    ProgramArguments: serviceCommand(s.limactl, s.instance.name),
    EnvironmentVariables: Object.fromEntries(environment(s, 'darwin').map((e) => [e.name, e.value])),
    WorkingDirectory: s.instance.dir,
    StandardOutPath: stdout,
    StandardErrorPath: stderr,
    RunAtLoad: true,
    // Restarted after a non-zero exit or a signal, never after exit 0 (a clean `limactl stop`).
    ...(s.keepAlive ? { KeepAlive: { Crashed: true, SuccessfulExit: false } } : {}),
    ThrottleInterval: LAUNCHD_THROTTLE_INTERVAL,
    ExitTimeOut: STOP_TIMEOUT_SEC,
    ProcessType: 'Standard',
    ...(s.daemon ? {} : { LimitLoadToSessionType: ['Aqua', 'Background'] }),
  };
}

export const UNIT_KEYS = {
  Unit: ['Description', 'Documentation', 'StartLimitIntervalSec', 'StartLimitBurst'],
  Service: ['Type', 'ExecStart', 'WorkingDirectory', 'Environment', 'Restart', 'RestartSec', 'TimeoutStopSec', 'KillMode'],
  Install: ['WantedBy'],
} as const;
export type UnitValues = { [S in keyof typeof UNIT_KEYS]: Partial<Record<(typeof UNIT_KEYS)[S][number], unknown>> };

/** The user unit, the same file for both conditions (lingering makes the difference). */
export function unitFor(s: ServiceInput): UnitValues {
  return {
    Unit: { Description: `Lima instance ${s.instance.name}`, Documentation: 'https://lima-vm.io/docs/', StartLimitIntervalSec: SYSTEMD_START_LIMIT_INTERVAL_SEC, StartLimitBurst: SYSTEMD_START_LIMIT_BURST },
    Service: {
      Type: 'simple',
      ExecStart: serviceCommand(s.limactl, s.instance.name),
      WorkingDirectory: s.instance.dir,
      Environment: environment(s, 'linux'),
      Restart: s.keepAlive ? 'on-failure' : 'no',
      RestartSec: SYSTEMD_RESTART_SEC,
      TimeoutStopSec: STOP_TIMEOUT_SEC,
      KillMode: 'mixed',
    },
    Install: { WantedBy: 'default.target' },
  };
}

// Every generated file says, in a comment, that this program wrote it and with which options, so
// a later run can tell its own files from others' (and, on Linux, whether a unit is for boot).
const HEADER = /Generated by limactl-autostart (\S+): condition=(login|boot) keep-alive=(true|false)\./;

export function headerLine(condition: Condition, keepAlive: boolean): string {
  return `Generated by limactl-autostart ${packageVersion()}: condition=${condition} keep-alive=${keepAlive}. Change it with limactl-autostart, not by hand.`;
}

export function readHeader(text: string): GeneratedBy | undefined {
  const m = HEADER.exec(text);
  return m ? { version: m[1]!, condition: m[2] as Condition, keepAlive: m[3] === 'true' } : undefined;
}

/** How the header's version compares with this program's; one that is not a version is older. */
export function headerAge(header: GeneratedBy): 'older' | 'current' | 'newer' {
  const order = valid(header.version) ? compare(header.version, packageVersion()) : -1;
  return order < 0 ? 'older' : order > 0 ? 'newer' : 'current';
}
