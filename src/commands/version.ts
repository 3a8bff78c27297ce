import { limactlOnPath } from '../instance.js';
import { checkLimactl } from '../limactl.js';
import { packageVersion } from '../version.js';
import { writeStdout } from '../stdout.js';

/**
 * `--version`: this program's version and the version of the limactl a registration would run
 * (the first on PATH). Never fails: a missing, hung or odd limactl is reported, not an error.
 */
export async function printVersion(): Promise<void> {
  writeStdout(`limactl-autostart version ${packageVersion()}\n`);
  const limactl = limactlOnPath(process.env.PATH ?? '');
  if (!limactl) {
    writeStdout('limactl not found on PATH\n');
    return;
  }
  const answer = await checkLimactl(limactl);
  writeStdout(`limactl version ${answer.kind === 'version' ? answer.version : 'unknown'} (${limactl})\n`);
}
