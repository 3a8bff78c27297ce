import { limactlOnPath } from '../host.js';
import { checkLimactl } from '../lima.js';
import { packageVersion } from '../version.js';
import { excerpt } from '../errors.js';

/** Ours, and that of the limactl a registration would run (the first on PATH): a missing, hung or odd limactl is said, not an error. */
export async function printVersion(): Promise<void> {
  process.stdout.write(`limactl-autostart version ${packageVersion()}\n`);
  const limactl = limactlOnPath(process.env.PATH ?? '');
  if (!limactl) {
    process.stdout.write('limactl not found on PATH\n');
    return;
  }
  process.stdout.write(`limactl version ${(await checkLimactl(limactl)) ?? 'unknown'} (${excerpt(limactl)})\n`);
}
