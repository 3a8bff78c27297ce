import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Host } from './host.js';
import type { Condition, Problem } from './backends/backend.js';
import { headerAge, type GeneratedBy } from './header.js';
import { formatArgv } from './errors.js';
import { packageVersion } from './version.js';

/** What a service file says, as far as it could be read. */
export interface FileFacts {
  instance: string;
  file: string;
  condition: Condition;
  keepAlive: boolean | null;
  header: GeneratedBy | undefined;
  /** The program the service runs (limactl), when the file could be read. */
  program: string | undefined;
  /** LIMA_HOME the service gets; undefined when the file sets none (then limactl uses ~/.lima). */
  limaHome: string | undefined;
}

/** The command that writes the file again for the same condition and keep-alive choice. */
export function reEnable(facts: Pick<FileFacts, 'instance' | 'condition' | 'keepAlive'>): string {
  return formatArgv(['limactl-autostart', 'enable', facts.instance, `--condition=${facts.condition}`, ...(facts.keepAlive === false ? ['--keep-alive=false'] : [])]);
}

/** Problems visible in the file itself, the same for launchd and systemd. */
export function fileProblems(host: Host, facts: FileFacts): Problem[] {
  const problems: Problem[] = [];
  // Formatted only for a problem found: status checks every instance, most have none.
  const fix = (): string => reEnable(facts);
  if (!existsSync(path.join(host.limaHome, facts.instance, 'lima.yaml'))) {
    problems.push({ problem: `the instance no longer exists in ${host.limaHome}`, fix: formatArgv(['limactl-autostart', 'disable', facts.instance, '--now']) });
  }
  if (facts.program !== undefined && !existsSync(facts.program)) {
    problems.push({ problem: `the service runs ${facts.program}, which no longer exists (Lima moved, upgraded or uninstalled?)`, fix: fix() });
  }
  const fileLimaHome = facts.limaHome ?? path.join(host.home, '.lima');
  if (facts.program !== undefined && path.resolve(fileLimaHome) !== host.limaHome) {
    problems.push({ problem: `the service uses LIMA_HOME=${fileLimaHome}, but LIMA_HOME here is ${host.limaHome}`, fix: `${fix()}   # or run status with LIMA_HOME=${fileLimaHome}` });
  }
  if (!facts.header) {
    problems.push({ problem: 'not written by limactl-autostart (Lima\'s start-at-login, or by hand): no keep-alive guarantees', fix: fix() });
  } else if (headerAge(facts.header) === 'older') {
    problems.push({ problem: `written by limactl-autostart ${facts.header.version}, older than this ${packageVersion()}`, fix: fix() });
  }
  return problems;
}
