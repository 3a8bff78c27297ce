// `npm run demo`: what enabling an instance writes and runs, on macOS and on Linux, shown with
// --dry-run against a sample instance in a temporary LIMA_HOME. It changes nothing on this
// machine, so it is safe to run anywhere, with or without Lima.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN } from './helpers.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'limactl-autostart-demo-'));
try {
  const home = path.join(root, 'home');
  const limaHome = path.join(home, '.lima');
  const bin = path.join(root, 'bin');
  mkdirSync(path.join(limaHome, 'sample'), { recursive: true });
  mkdirSync(bin, { recursive: true });
  writeFileSync(path.join(limaHome, 'sample', 'lima.yaml'), '# sample instance for the demo\n');
  // A placeholder limactl: the demo only needs a path to put into the service files, and an
  // answer to `limactl --version` from a Lima that reaches plugins, so that no version warning shows.
  writeFileSync(path.join(bin, 'limactl'), '#!/bin/sh\n[ "$1" = --version ] && { echo "limactl version 2.0.3"; exit 0; }\necho "placeholder limactl: the demo never starts a VM" >&2\nexit 1\n');
  chmodSync(path.join(bin, 'limactl'), 0o755);

  const runs: Array<{ platform: string; args: string[] }> = [
    { platform: 'darwin', args: ['enable', 'sample', '--condition=boot', '--now', '--dry-run'] },
    { platform: 'darwin', args: ['enable', 'sample', '--condition=login', '--dry-run'] },
    { platform: 'linux', args: ['enable', 'sample', '--condition=boot', '--now', '--dry-run'] },
  ];
  let failed = false;
  for (const { platform, args } of runs) {
    process.stdout.write(`\n$ LIMA_AUTOSTART_PLATFORM=${platform} limactl-autostart ${args.join(' ')}\n`);
    const result = spawnSync(process.execPath, [BIN, ...args], {
      env: { ...process.env, HOME: home, LIMA_HOME: limaHome, PATH: `${bin}:${process.env.PATH ?? ''}`, LIMA_AUTOSTART_PLATFORM: platform, XDG_CONFIG_HOME: '', XDG_STATE_HOME: '', XDG_CACHE_HOME: '' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    failed ||= result.status !== 0;
  }
  process.exitCode = failed ? 1 : 0;
} finally {
  rmSync(root, { recursive: true, force: true });
}
