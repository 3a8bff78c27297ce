// `npm run demo`: what enabling an instance writes and runs, on macOS and on Linux, shown with
// --dry-run against a sample instance in a temporary LIMA_HOME. It changes nothing on this
// machine, and builds the program only when the build is missing or older than its sources.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLE = path.join(ROOT, 'dist', 'bundle', 'limactl-autostart.mjs');
const newest = (dir) => Math.max(...readdirSync(dir, { recursive: true }).map((f) => statSync(path.join(dir, f)).mtimeMs));
if (!existsSync(BUNDLE) || statSync(BUNDLE).mtimeMs < Math.max(newest(path.join(ROOT, 'src')), newest(path.join(ROOT, 'tools')))) {
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const root = mkdtempSync(path.join(os.tmpdir(), 'limactl-autostart-demo-'));
try {
  const home = path.join(root, 'home');
  const limaHome = path.join(home, '.lima');
  const bin = path.join(root, 'bin');
  mkdirSync(path.join(limaHome, 'sample'), { recursive: true });
  mkdirSync(bin, { recursive: true });
  writeFileSync(path.join(limaHome, 'sample', 'lima.yaml'), '# sample instance for the demo\n');
  // Placeholders for what this machine may lack: a limactl (its path goes into the files), and
  // launchd and a systemd user manager that answer the plan's read-only questions as on a Mac
  // with a GUI login and on a Linux desktop, with nothing loaded. Anything else fails loudly.
  const script = (body) => `#!/bin/sh\n${body}\necho "placeholder: the demo changes nothing" >&2\nexit 1\n`;
  writeFileSync(path.join(bin, 'limactl'), script('[ "$1" = --version ] && { echo "limactl version 2.0.3"; exit 0; }\n[ "$1" = list ] && exit 0'));
  writeFileSync(path.join(bin, 'launchctl'), script('[ "$1" = print ] && case $2 in gui/*/*|user/*/*|system/*) exit 113 ;; *) exit 0 ;; esac'));
  writeFileSync(path.join(bin, 'systemctl'), script('[ "$2" = show-environment ] && exit 0\n[ "$2" = is-active ] && exit 3'));
  for (const tool of ['limactl', 'launchctl', 'systemctl']) chmodSync(path.join(bin, tool), 0o755);

  const runs = [
    ['darwin', ['enable', 'sample', '--condition=boot', '--now', '--dry-run']],
    ['darwin', ['enable', 'sample', '--condition=login', '--dry-run']],
    ['linux', ['enable', 'sample', '--condition=boot', '--now', '--dry-run']],
  ];
  let failed = false;
  for (const [platform, args] of runs) {
    process.stdout.write(`\n$ LIMA_AUTOSTART_PLATFORM=${platform} limactl-autostart ${args.join(' ')}\n`);
    const result = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'limactl-autostart'), ...args], {
      env: { ...process.env, HOME: home, LIMA_HOME: limaHome, PATH: `${bin}:${process.env.PATH ?? ''}`, LIMA_AUTOSTART_PLATFORM: platform, XDG_CONFIG_HOME: '', XDG_STATE_HOME: '', XDG_RUNTIME_DIR: '/run/user/1000' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    failed ||= result.status !== 0;
  }
  process.exitCode = failed ? 1 : 0;
} finally {
  rmSync(root, { recursive: true, force: true });
}
