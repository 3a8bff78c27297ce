import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { quote, UsageError, UserError } from './errors.js';
import type { Instance } from './model.js';

/**
 * What the program reads from the machine it runs on, gathered once. Tests steer it through the
 * environment only (docs/testing.md): LIMA_AUTOSTART_* and the usual HOME, XDG_*, LIMA_HOME, USER, PATH.
 */
export interface Host {
  platform: 'darwin' | 'linux';
  /** Prefix for system-wide paths (/Library/LaunchDaemons, /var/lib/systemd/linger); '' in real use. */
  sysroot: string;
  home: string;
  xdgConfigHome: string;
  xdgStateHome: string;
  limaHome: string;
  user: string;
  uid: number;
  /** PATH as the user has it: where `limactl` is looked up. */
  searchPath: string;
  env: NodeJS.ProcessEnv;
}

// Account names as launchd and logind accept them; anything else could not be a user anyway.
export const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

export function readHost(env: NodeJS.ProcessEnv = process.env): Host {
  const platform = env.LIMA_AUTOSTART_PLATFORM || process.platform;
  if (platform !== 'darwin' && platform !== 'linux') {
    throw new UserError(`limactl-autostart does not support the platform "${platform}"`, 'It registers instances with launchd (macOS) or systemd (Linux). On other platforms, start the instance with `limactl start`.');
  }
  // Under sudo, HOME, USER and the service manager are root's, and Lima refuses to run as root.
  if (env.SUDO_USER && process.getuid?.() === 0) {
    throw new UserError(
      `limactl-autostart is running under sudo (for ${env.SUDO_USER}); it must run as the user who owns the instance`,
      'Run it again without sudo. It runs `sudo` itself for the commands that need root (a LaunchDaemon), and loginctl for lingering.',
    );
  }
  const home = absolute('HOME', env.HOME || os.homedir());
  const user = env.USER || os.userInfo().username;
  // USER reaches `loginctl enable-linger` and a LaunchDaemon's UserName: checked as --user is.
  if (!USER_NAME.test(user)) throw new UserError(`USER is ${JSON.stringify(user)}, not a valid account name`, 'Set USER to your account name, as `id -un` prints it, and try again.');
  return {
    platform,
    sysroot: env.LIMA_AUTOSTART_SYSROOT ? path.resolve(env.LIMA_AUTOSTART_SYSROOT) : '',
    home,
    xdgConfigHome: absolute('XDG_CONFIG_HOME', env.XDG_CONFIG_HOME || path.join(home, '.config')),
    xdgStateHome: absolute('XDG_STATE_HOME', env.XDG_STATE_HOME || path.join(home, '.local', 'state')),
    // Resolved: launchd and systemd start jobs in another directory.
    limaHome: writable('LIMA_HOME', env.LIMA_HOME ? path.resolve(env.LIMA_HOME) : path.join(home, '.lima')),
    user,
    uid: process.getuid?.() ?? 0,
    searchPath: env.PATH ?? '',
    env,
  };
}

function absolute(name: string, value: string): string {
  if (!path.isAbsolute(value)) throw new UserError(`${name} is "${value}", not an absolute path`, `Set ${name} to an absolute path and try again.`);
  return writable(name, path.normalize(value));
}

/** Service files are line-based (units) or XML (plists): neither can carry a control character in a path. */
function writable(name: string, value: string): string {
  if (/[\x00-\x1f\x7f]/.test(value)) {
    throw new UserError(`${name} (${JSON.stringify(value)}) contains a control character`, 'launchd and systemd files cannot hold it; move the directory to a path without one.');
  }
  return value;
}

export function systemPath(host: Host, ...parts: string[]): string {
  return path.join(host.sysroot || '/', ...parts);
}

// Lima's own rule for instance names (pkg/identifiers).
const INSTANCE_NAME = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
const INSTANCE_NAME_MAX = 76;

export function isInstanceName(name: string): boolean {
  return name.length <= INSTANCE_NAME_MAX && INSTANCE_NAME.test(name);
}

export function validateInstanceName(name: string): void {
  if (isInstanceName(name)) return;
  const why = name.length > INSTANCE_NAME_MAX ? `it is ${name.length} characters long (at most ${INSTANCE_NAME_MAX})` : 'Lima instance names are letters and digits, joined by single ".", "_" or "-"';
  throw new UsageError(`invalid instance name ${JSON.stringify(name)}: ${why}`, 'Run `limactl list` to see the names of your instances.');
}

export function findInstance(host: Host, name: string): Instance {
  validateInstanceName(name);
  if (!hasInstance(host, name)) throw new UserError(`instance "${name}" not found in ${host.limaHome}`, 'Run `limactl list` to see your instances, or set LIMA_HOME to the directory that holds it.');
  return { name, dir: path.join(host.limaHome, name), limaHome: host.limaHome };
}

export function hasInstance(host: Host, name: string): boolean {
  return existsSync(path.join(host.limaHome, name, 'lima.yaml'));
}

/** What `limactl list` lists (Lima's own `_config` and `_networks` are not instances); none without a LIMA_HOME, an error for one that cannot be read. */
export function instancesInLimaHome(host: Host): string[] {
  let names: string[];
  try {
    names = readdirSync(host.limaHome);
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    if (code === 'ENOENT') return [];
    throw new UserError(`cannot read LIMA_HOME ${quote(host.limaHome)}: ${code ?? message}`, 'Make it a directory you can read, or set LIMA_HOME to the one that holds your instances (`limactl list` reads the same).');
  }
  return names.filter((name) => isInstanceName(name) && hasInstance(host, name));
}

/** Kept as found on PATH: Homebrew's link outlives the versioned Cellar directory it points to, which `brew upgrade` deletes. */
export function findLimactl(host: Host): string {
  const found = limactlOnPath(host.searchPath);
  if (found) return writable('the path of limactl', found);
  throw new UserError('limactl was not found on PATH', 'The service runs `limactl start INSTANCE --foreground`, so it needs the path of limactl. Install Lima (https://lima-vm.io) or add its bin directory to PATH.');
}

/** Relative PATH entries are skipped: the current directory's limactl would become the service's program for good. */
export function limactlOnPath(searchPath: string): string | undefined {
  return searchPath.split(path.delimiter).filter((dir) => path.isAbsolute(dir)).map((dir) => path.join(dir, 'limactl')).find((candidate) => {
    try {
      accessSync(candidate, constants.X_OK);
      return statSync(candidate).isFile();
    } catch {
      return false;
    }
  });
}

export function stateDir(host: Host): string {
  return path.join(host.xdgStateHome, 'limactl-autostart');
}

/** In the instance's directory; an instance removed with `limactl delete` has it in the state directory. */
export function instanceLock(host: Host, instance: string): { file: string; what: string } {
  const dir = path.join(host.limaHome, instance);
  return { file: existsSync(dir) ? path.join(dir, 'autostart.lock') : path.join(stateDir(host), `${instance}.lock`), what: `instance "${instance}"` };
}
