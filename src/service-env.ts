import path from 'node:path';
import type { Host } from './host.js';

export interface EnvVar {
  name: string;
  value: string;
}

// launchd starts jobs with PATH=/usr/bin:/bin:/usr/sbin:/sbin, where neither limactl nor a
// Homebrew QEMU is found; the systemd user manager's PATH lacks Linuxbrew. The service gets
// limactl's own directory first, then the usual Homebrew prefixes, then the system directories.
const HOMEBREW_DIRS: Record<Host['platform'], string[]> = {
  darwin: ['/opt/homebrew/bin', '/opt/homebrew/sbin', '/usr/local/bin', '/usr/local/sbin'],
  linux: ['/home/linuxbrew/.linuxbrew/bin', '/home/linuxbrew/.linuxbrew/sbin', '/usr/local/bin', '/usr/local/sbin'],
};
const SYSTEM_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];

export function servicePath(host: Host, limactl: string): string {
  return [...new Set([path.dirname(limactl), ...HOMEBREW_DIRS[host.platform], ...SYSTEM_DIRS])].join(':');
}

/**
 * What every service runs: `limactl start` in the foreground, because launchd and systemd kill
 * or loop a program that daemonizes.
 */
export function serviceCommand(limactl: string, instance: string): string[] {
  return [limactl, 'start', instance, '--foreground'];
}

/** The environment the service starts with: the Lima the user sees, and a PATH that finds its tools. */
export function serviceEnvironment(host: Host, limactl: string, extra: EnvVar[] = []): EnvVar[] {
  return [{ name: 'LIMA_HOME', value: host.limaHome }, ...extra, { name: 'PATH', value: servicePath(host, limactl) }];
}
