import os from 'node:os';
import path from 'node:path';
import { UserError } from './errors.js';

export type Platform = 'darwin' | 'linux';

/**
 * Everything the program reads from the machine it runs on, gathered once.
 * Tests steer it through the environment only (see docs/testing.md): the platform seam
 * LIMA_AUTOSTART_PLATFORM, the system-root seam LIMA_AUTOSTART_SYSROOT, and the ordinary
 * HOME, XDG_CONFIG_HOME, XDG_STATE_HOME, LIMA_HOME, USER and PATH.
 */
export interface Host {
  platform: Platform;
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

export function detectPlatform(env: NodeJS.ProcessEnv = process.env): string {
  return env.LIMA_AUTOSTART_PLATFORM || process.platform;
}

export function readHost(env: NodeJS.ProcessEnv = process.env): Host {
  const platform = detectPlatform(env);
  if (platform !== 'darwin' && platform !== 'linux') {
    throw new UserError(
      `limactl-autostart does not support the platform "${platform}"`,
      'It registers instances with launchd (macOS) or systemd (Linux). On other platforms, start the instance with `limactl start`.',
    );
  }
  // Under sudo, HOME, USER and the service manager are root's: a LaunchAgent would land in root's
  // domain, a user unit in root's manager, and Lima refuses to run as root anyway. The program
  // asks for sudo itself, for the few fixed commands that need it.
  if (env.SUDO_USER && process.getuid?.() === 0) {
    throw new UserError(
      `limactl-autostart is running under sudo (for ${env.SUDO_USER}); it must run as the user who owns the instance`,
      'Run it again without sudo. It runs `sudo` itself for the commands that need root (a LaunchDaemon), and loginctl for lingering.',
    );
  }
  const home = absolute('HOME', env.HOME || os.homedir());
  const xdgConfigHome = env.XDG_CONFIG_HOME ? absolute('XDG_CONFIG_HOME', env.XDG_CONFIG_HOME) : path.join(home, '.config');
  const xdgStateHome = env.XDG_STATE_HOME ? absolute('XDG_STATE_HOME', env.XDG_STATE_HOME) : path.join(home, '.local', 'state');
  // Lima's own default; resolved to an absolute path because launchd and systemd start jobs
  // elsewhere, and a relative LIMA_HOME would point at another directory there.
  const limaHome = writable('LIMA_HOME', env.LIMA_HOME ? path.resolve(env.LIMA_HOME) : path.join(home, '.lima'));
  return {
    platform,
    sysroot: env.LIMA_AUTOSTART_SYSROOT ? path.resolve(env.LIMA_AUTOSTART_SYSROOT) : '',
    home,
    xdgConfigHome,
    xdgStateHome,
    limaHome,
    user: userName(env.USER || os.userInfo().username),
    uid: process.getuid?.() ?? 0,
    searchPath: env.PATH ?? '',
    env,
  };
}

/** USER reaches `loginctl enable-linger` and a LaunchDaemon's UserName: checked as --user is. */
function userName(user: string): string {
  if (!USER_NAME.test(user)) {
    throw new UserError(`USER is ${JSON.stringify(user)}, not a valid account name`, 'Set USER to your account name, as `id -un` prints it, and try again.');
  }
  return user;
}

function absolute(name: string, value: string): string {
  if (!path.isAbsolute(value)) {
    throw new UserError(`${name} is "${value}", not an absolute path`, `Set ${name} to an absolute path and try again.`);
  }
  return writable(name, path.normalize(value));
}

/**
 * Service files are line-based (units) or XML (plists): neither can carry a newline or another
 * control character in a path. Spaces, `%`, `$`, `&` and `<` are escaped for each format (and so are
 * quotes, except in the path of limactl on Linux: see the systemd backend).
 */
export function writable(name: string, value: string): string {
  if (/[\x00-\x1f\x7f]/.test(value)) {
    throw new UserError(`${name} (${JSON.stringify(value)}) contains a control character`, 'launchd and systemd files cannot hold it; move the directory to a path without one.');
  }
  return value;
}

/** A system-wide path under the sysroot seam. */
export function systemPath(host: Host, ...parts: string[]): string {
  return path.join(host.sysroot || '/', ...parts);
}
