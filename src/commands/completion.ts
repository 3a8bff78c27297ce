import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../version.js';
import { UsageError } from '../errors.js';

/** The completion script for `shell` (bash or zsh; by default the one in $SHELL), from templates/. */
export function printCompletion(shell: string | undefined): void {
  const name = shell ?? path.basename(process.env.SHELL ?? 'bash');
  if (name !== 'bash' && name !== 'zsh') throw new UsageError(`there is no completion script for ${JSON.stringify(name)}`, 'Name bash or zsh: `limactl-autostart completion bash`.');
  process.stdout.write(readFileSync(path.join(PACKAGE_ROOT, 'templates', `completion.${name}`), 'utf8'));
}
