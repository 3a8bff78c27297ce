import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Host } from './host.js';
import type { Condition, Problem, ServiceFile } from './model.js';
import { headerAge } from './header.js';
import { keepAliveToWrite, serviceLimaHome } from './registration.js';
import { formatArgv } from './errors.js';
import { packageVersion } from './version.js';

/** The command that writes the file again for the same condition and keep-alive choice (and, with `now`, starts it through the service). */
export function reEnable(instance: string, condition: Condition, keepAlive: boolean | null, now = false): string {
  return formatArgv(['limactl-autostart', 'enable', instance, `--condition=${condition}`, ...(keepAlive === false ? ['--keep-alive=false'] : []), ...(now ? ['--now'] : [])]);
}

/** Where to see why the instance did not start: its service's log and Lima's own. */
export function logHint(instance: string): string {
  return `see \`${formatArgv(['limactl-autostart', 'logs', instance])}\``;
}

/** Problems visible in the file itself, the same for launchd and systemd. */
export function fileProblems(host: Host, file: ServiceFile): Problem[] {
  const { instance } = file.registration;
  // Formatted only for a problem found: status checks every instance, most have none.
  const fix = (): string => reEnable(instance, file.condition, file.unreadable === undefined ? keepAliveToWrite(file) : null);
  if (file.unreadable !== undefined) return [{ problem: `cannot read ${file.registration.file}: ${file.cause}`, fix: fix() }];
  const problems: Problem[] = [];
  if (!existsSync(path.join(host.limaHome, instance, 'lima.yaml'))) {
    problems.push({ problem: `the instance no longer exists in ${host.limaHome}`, fix: formatArgv(['limactl-autostart', 'disable', instance, '--now']) });
  }
  if (file.program !== undefined && !existsSync(file.program)) {
    problems.push({ problem: `the service runs ${file.program}, which no longer exists (Lima moved, upgraded or uninstalled?)`, fix: fix() });
  }
  const limaHome = serviceLimaHome(file, host.home);
  if (file.program !== undefined && limaHome !== host.limaHome) {
    problems.push({ problem: `the service uses LIMA_HOME=${file.limaHome ?? limaHome}, but LIMA_HOME here is ${host.limaHome}`, fix: `${fix()}   # or run status with LIMA_HOME=${file.limaHome ?? limaHome}` });
  }
  if (!file.header) {
    problems.push({ problem: 'not written by limactl-autostart (Lima\'s start-at-login, or by hand): no keep-alive guarantees', fix: fix() });
  } else if (headerAge(file.header) === 'older') {
    problems.push({ problem: `written by limactl-autostart ${file.header.version}, older than this ${packageVersion()}`, fix: fix() });
  }
  return problems;
}

/**
 * The host agent was killed by SIGKILL and keep-alive restarts it: what `limactl stop --force`
 * does (Lima's pkg/instance/stop.go), and what surprises a user who meant the instance to stay
 * down. A note, not a problem: the restart is keep-alive doing its job.
 */
export function sigkillNote(manager: 'launchd' | 'systemd', instance: string, restarted: boolean): string {
  return [
    `the host agent was killed by SIGKILL (as \`limactl stop --force\` does), which keep-alive counts as a crash: ${manager} ${restarted ? 'started it again' : 'starts it again shortly'}.`,
    `To stop the instance and keep it stopped: ${formatArgv(['limactl-autostart', 'disable', instance, '--now'])}, or \`limactl stop ${instance}\` without --force (docs/troubleshooting.md: "The instance came back after limactl stop --force")`,
  ].join(' ');
}
