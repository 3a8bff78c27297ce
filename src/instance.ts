import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Host, writable } from './host.js';
import { UsageError, UserError } from './errors.js';
import type { Instance } from './model.js';
import { listDir } from './list-dir.js';

// Lima's own rule for instance names (pkg/identifiers): anything else is refused before
// it can reach a file name, a launchd label or a unit name.
const INSTANCE_NAME = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
const INSTANCE_NAME_MAX = 76;

/** Whether `name` is one Lima would accept: for names taken from file names, which are only skipped. */
export function isInstanceName(name: string): boolean {
  return name.length <= INSTANCE_NAME_MAX && INSTANCE_NAME.test(name);
}

export function validateInstanceName(name: string): void {
  if (!isInstanceName(name)) {
    const why = name.length > INSTANCE_NAME_MAX
      ? `it is ${name.length} characters long (at most ${INSTANCE_NAME_MAX})`
      : 'Lima instance names are letters and digits, joined by single ".", "_" or "-"';
    throw new UsageError(`invalid instance name ${JSON.stringify(name)}: ${why}`, 'Run `limactl list` to see the names of your instances.');
  }
}

export function findInstance(host: Host, name: string): Instance {
  validateInstanceName(name);
  const dir = path.join(host.limaHome, name);
  if (!hasInstance(host, name)) {
    throw new UserError(
      `instance "${name}" not found in ${host.limaHome}`,
      'Run `limactl list` to see your instances, or set LIMA_HOME to the directory that holds it.',
    );
  }
  return { name, dir, limaHome: host.limaHome };
}

export function hasInstance(host: Host, name: string): boolean {
  return existsSync(path.join(host.limaHome, name, 'lima.yaml'));
}

/** What `limactl list` lists: directories with a lima.yaml (Lima's own `_config` and `_networks` have none). */
export function instancesInLimaHome(host: Host): string[] {
  return listDir(host.limaHome).filter((name) => !name.startsWith('_') && !name.startsWith('.') && hasInstance(host, name));
}

/**
 * The `limactl` the user runs: the first executable on PATH, kept as found. Symlinks are not
 * resolved: Homebrew's /opt/homebrew/bin/limactl points into a versioned Cellar directory that
 * the next `brew upgrade` deletes, so the link is the path that keeps working.
 */
export function findLimactl(host: Host): string {
  const found = limactlOnPath(host.searchPath);
  if (found) return writable('the path of limactl', found);
  throw new UserError(
    'limactl was not found on PATH',
    'The service runs `limactl start INSTANCE --foreground`, so it needs the path of limactl. Install Lima (https://lima-vm.io) or add its bin directory to PATH.',
  );
}

/** The first executable `limactl` in `searchPath`, as written there; undefined if there is none. */
export function limactlOnPath(searchPath: string): string | undefined {
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.resolve(dir, 'limactl');
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}
