import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'plist';
import { Sandbox, show, type RunResult, type SandboxOptions } from './helpers.js';

// End-to-end tests of the launchd backend: every test runs bin/limactl-autostart in a sandbox
// (LIMA_AUTOSTART_PLATFORM=darwin) and looks at the files it wrote and the calls the stand-ins
// recorded. sudo's stand-in records itself and then runs the command, so `sudo launchctl X`
// shows up as two calls: ['sudo', 'launchctl', X] and then ['launchctl', X].

const AGENT = 'io.lima-vm.autostart.default';
const DAEMON = 'io.lima-vm.daemon.default';
const STAGING = '<staging>';

type Call = string[];

/** A run that must succeed. */
function ok(result: RunResult): RunResult {
  assert.equal(result.code, 0, show(result));
  return result;
}

function readPlist(file: string): unknown {
  return parse(readFileSync(file, 'utf8'));
}

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

/** Every path in the sandbox has a space; this is how the program quotes such a word in messages. */
function quoted(word: string): string {
  assert.doesNotMatch(word, /'/, 'quoted() handles words without single quotes only');
  return `'${word}'`;
}

interface PlistOptions {
  keepAlive: boolean;
  /** A LaunchDaemon running as this user; `home` says whether HOME is in its environment. */
  daemon?: { user: string; home: boolean };
  /** The limactl path the plist must record (default: the sandbox's bin/limactl). */
  limactl?: string;
}

/** The whole dict a plist must parse back to: nothing more, nothing less. */
function expectedPlist(sb: Sandbox, o: PlistOptions): Record<string, unknown> {
  const dir = path.join(sb.limaHome, 'default');
  const limactl = o.limactl ?? sb.limactl;
  const env: Record<string, string> = { LIMA_HOME: sb.limaHome };
  if (o.daemon?.home) env.HOME = sb.home;
  env.PATH = [path.dirname(limactl), '/opt/homebrew/bin', '/opt/homebrew/sbin', '/usr/local/bin', '/usr/local/sbin', '/usr/bin', '/bin', '/usr/sbin', '/sbin'].join(':');
  return {
    Label: o.daemon ? DAEMON : AGENT,
    ...(o.daemon ? { UserName: o.daemon.user } : {}),
    ProgramArguments: [limactl, 'start', 'default', '--foreground'],
    EnvironmentVariables: env,
    WorkingDirectory: dir,
    StandardOutPath: path.join(dir, 'launchd.stdout.log'),
    StandardErrorPath: path.join(dir, 'launchd.stderr.log'),
    RunAtLoad: true,
    ...(o.keepAlive ? { KeepAlive: { Crashed: true, SuccessfulExit: false } } : {}),
    ThrottleInterval: 30,
    ExitTimeOut: 300,
    ProcessType: 'Standard',
    ...(o.daemon ? {} : { LimitLoadToSessionType: ['Aqua', 'Background'] }),
  };
}

/** `sudo launchctl ...`: the sudo stand-in's record, then the inner launchctl's. */
function sudoLaunchctl(...args: string[]): Call[] {
  return [['sudo', 'launchctl', ...args], ['launchctl', ...args]];
}

function installDaemon(sb: Sandbox): Call {
  return ['sudo', 'install', '-m', '644', '-o', 'root', '-g', 'wheel', STAGING, sb.daemonPlist()];
}

/**
 * The recorded calls, with the random staging path of a daemon install replaced by STAGING.
 * Checks that each staging copy was in the sandbox's TMPDIR and is gone.
 */
function calls(sb: Sandbox): Call[] {
  const tmp = sb.tmp;
  return sb.calls().map((call) => call.map((arg) => {
    if (path.dirname(arg) !== tmp || !/^limactl-autostart-[0-9a-f]{12}\.plist$/.test(path.basename(arg))) return arg;
    assert.ok(!existsSync(arg), `the staging copy ${arg} is still there`);
    return STAGING;
  }));
}

/** Registered both ways at once (as an older version or a hand edit could leave it). */
function registerBoth(sb: Sandbox): void {
  ok(sb.run(['enable', 'default', '--condition=boot']));
  const daemon = readFileSync(sb.daemonPlist(), 'utf8');
  ok(sb.run(['enable', 'default', '--condition=login'])); // removes the daemon
  assert.ok(!existsSync(sb.daemonPlist()));
  writeFileSync(sb.daemonPlist(), daemon, { mode: 0o644 });
  sb.clearCalls();
}

/** Splits --dry-run output into its lines without the here-document bodies, and those bodies. */
function dryRun(stdout: string): { lines: string[]; files: string[] } {
  const lines: string[] = [];
  const files: string[] = [];
  let body: string[] | undefined;
  for (const line of stdout.replace(/\n$/, '').split('\n')) {
    if (body) {
      if (line === 'EOF') {
        files.push(`${body.join('\n')}\n`);
        body = undefined;
      } else {
        body.push(line);
      }
    } else {
      lines.push(line);
      if (line.endsWith(`<<'EOF'`)) body = [];
    }
  }
  assert.equal(body, undefined, 'a here-document is not closed');
  return { lines, files };
}

/** The staging path in dry-run output, checked to be in the sandbox's TMPDIR, replaced by STAGING. */
function unstage(sb: Sandbox, lines: string[]): string[] {
  const tmp = sb.tmp;
  const re = new RegExp(`'${tmp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/limactl-autostart-[0-9a-f]{12}\\.plist'`, 'g');
  return lines.map((line) => line.replace(re, STAGING));
}

describe('launchd (macOS) end to end', () => {
  let sb: Sandbox;
  const sandbox = (options: SandboxOptions = {}): Sandbox => (sb = new Sandbox({ platform: 'darwin', ...options }));
  afterEach(() => sb?.cleanup());

  describe('enable --condition=login', () => {
    for (const keepAlive of [true, false]) {
      for (const now of [false, true]) {
        const args = [...(keepAlive ? [] : ['--keep-alive=false']), ...(now ? ['--now'] : [])];
        it(`writes the LaunchAgent and enables it in gui/<uid> (keep-alive ${keepAlive}${now ? ', --now bootstraps it' : ''})`, () => {
          sandbox();
          const r = ok(sb.run(['enable', 'default', '--condition=login', ...args]));
          assert.deepStrictEqual(readPlist(sb.agentPlist()), expectedPlist(sb, { keepAlive }));
          assert.equal(mode(sb.agentPlist()), 0o644);
          assert.ok(!existsSync(sb.daemonPlist()));
          const gui = `gui/${sb.uid}`;
          assert.deepStrictEqual(calls(sb), [
            ['launchctl', 'print', gui],
            ['launchctl', 'enable', `${gui}/${AGENT}`],
            ...(now ? [['launchctl', 'bootout', `${gui}/${AGENT}`], ['launchctl', 'bootstrap', gui, sb.agentPlist()]] : []),
          ]);
          assert.ok(r.stderr.includes(`info: instance "default" starts at login: LaunchAgent ${sb.agentPlist()} (${gui}/${AGENT})`), show(r));
          assert.equal(r.stderr.includes('add --now to start it now'), !now, show(r));
          assert.equal(r.stdout, '');
        });
      }
    }
  });

  describe('enable --condition=boot', () => {
    for (const keepAlive of [true, false]) {
      for (const now of [false, true]) {
        const args = [...(keepAlive ? [] : ['--no-keep-alive']), ...(now ? ['--now'] : [])];
        it(`installs the LaunchDaemon through sudo and enables it in system (keep-alive ${keepAlive}${now ? ', --now bootstraps it' : ''})`, () => {
          sandbox();
          const r = ok(sb.run(['enable', 'default', '--condition=boot', ...args]));
          assert.deepStrictEqual(readPlist(sb.daemonPlist()), expectedPlist(sb, { keepAlive, daemon: { user: 'limauser', home: true } }));
          assert.equal(mode(sb.daemonPlist()), 0o644);
          assert.ok(!existsSync(sb.agentPlist()));
          assert.deepStrictEqual(calls(sb), [
            // --now also boots out an agent that an earlier switch may have left loaded.
            ...(now ? [['launchctl', 'print', `gui/${sb.uid}`], ['launchctl', 'bootout', `gui/${sb.uid}/${AGENT}`]] : []),
            installDaemon(sb),
            ...sudoLaunchctl('enable', `system/${DAEMON}`),
            ...(now ? [...sudoLaunchctl('bootout', `system/${DAEMON}`), ...sudoLaunchctl('bootstrap', 'system', sb.daemonPlist())] : []),
          ]);
          assert.deepStrictEqual(readdirSync(sb.tmp), [], 'the staging copy is removed');
          assert.ok(r.stderr.includes(`info: instance "default" starts at boot as limauser: LaunchDaemon ${sb.daemonPlist()} (system/${DAEMON})`), show(r));
          assert.doesNotMatch(r.stderr, /warning/);
        });
      }
    }
  });

  describe('--user', () => {
    it('--user other at boot: the daemon runs as other, without HOME, and a warning says other needs LIMA_HOME', () => {
      sandbox();
      const r = ok(sb.run(['enable', 'default', '--condition=boot', '--user', 'other']));
      assert.deepStrictEqual(readPlist(sb.daemonPlist()), expectedPlist(sb, { keepAlive: true, daemon: { user: 'other', home: false } }));
      assert.ok(r.stderr.includes(`warning: the daemon runs as other, who must be able to read and write ${sb.limaHome}`), show(r));
      assert.deepStrictEqual(calls(sb), [installDaemon(sb), ...sudoLaunchctl('enable', `system/${DAEMON}`)]);
    });

    it('--user other with --condition=login is refused: exit 2, no file, no calls', () => {
      sandbox();
      const r = sb.run(['enable', 'default', '--condition=login', '--user', 'other']);
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, /error: --user other applies only to --condition=boot/);
      assert.ok(!existsSync(sb.agentPlist()));
      assert.ok(!existsSync(sb.daemonPlist()));
      assert.deepStrictEqual(sb.calls(), []);
    });

    for (const user of ['a b', '../x', '-x', 'x;id', '']) {
      it(`--user ${JSON.stringify(user)} is not an account name: exit 2, no file, no calls`, () => {
        sandbox();
        const r = sb.run(['enable', 'default', '--condition=boot', `--user=${user}`]);
        assert.equal(r.code, 2, show(r));
        assert.ok(r.stderr.includes(`error: --user ${JSON.stringify(user)} is not a valid account name`), show(r));
        assert.doesNotMatch(r.stderr, /^\s+at /m);
        assert.ok(!existsSync(sb.agentPlist()));
        assert.ok(!existsSync(sb.daemonPlist()));
        assert.deepStrictEqual(sb.calls(), []);
      });
    }
  });

  describe('switching between login and boot', () => {
    const gui = (sb: Sandbox): string => `gui/${sb.uid}`;
    const cases: { from: 'login' | 'boot'; to: 'login' | 'boot'; now: boolean; calls: (sb: Sandbox) => Call[] }[] = [
      {
        from: 'login', to: 'boot', now: false,
        // The agent's file goes, but its job is left running: no bootout, not even a domain probe.
        calls: (sb) => [installDaemon(sb), ...sudoLaunchctl('enable', `system/${DAEMON}`)],
      },
      {
        from: 'login', to: 'boot', now: true,
        calls: (sb) => [
          ['launchctl', 'print', gui(sb)],
          ['launchctl', 'bootout', `${gui(sb)}/${AGENT}`],
          installDaemon(sb),
          ...sudoLaunchctl('enable', `system/${DAEMON}`),
          ...sudoLaunchctl('bootout', `system/${DAEMON}`),
          ...sudoLaunchctl('bootstrap', 'system', sb.daemonPlist()),
        ],
      },
      {
        from: 'boot', to: 'login', now: false,
        calls: (sb) => [
          ['launchctl', 'print', gui(sb)],
          ['sudo', 'rm', '-f', '--', sb.daemonPlist()],
          ['launchctl', 'enable', `${gui(sb)}/${AGENT}`],
        ],
      },
      {
        from: 'boot', to: 'login', now: true,
        calls: (sb) => [
          ['launchctl', 'print', gui(sb)],
          ...sudoLaunchctl('bootout', `system/${DAEMON}`),
          ['sudo', 'rm', '-f', '--', sb.daemonPlist()],
          ['launchctl', 'enable', `${gui(sb)}/${AGENT}`],
          ['launchctl', 'bootout', `${gui(sb)}/${AGENT}`],
          ['launchctl', 'bootstrap', gui(sb), sb.agentPlist()],
        ],
      },
    ];
    for (const c of cases) {
      it(`${c.from} then ${c.to}${c.now ? ' --now boots the old job out first' : ' without --now leaves the old job loaded'}`, () => {
        sandbox();
        ok(sb.run(['enable', 'default', `--condition=${c.from}`]));
        sb.clearCalls();
        const r = ok(sb.run(['enable', 'default', `--condition=${c.to}`, ...(c.now ? ['--now'] : [])]));
        assert.deepStrictEqual(calls(sb), c.calls(sb));
        if (c.to === 'boot') {
          assert.ok(!existsSync(sb.agentPlist()), 'the LaunchAgent is removed');
          assert.deepStrictEqual(readPlist(sb.daemonPlist()), expectedPlist(sb, { keepAlive: true, daemon: { user: 'limauser', home: true } }));
          assert.ok(r.stderr.includes(`info: removed the LaunchAgent ${sb.agentPlist()}: the instance now starts at boot, not at login`), show(r));
        } else {
          assert.ok(!existsSync(sb.daemonPlist()), 'the LaunchDaemon is removed');
          assert.deepStrictEqual(readPlist(sb.agentPlist()), expectedPlist(sb, { keepAlive: true }));
          assert.ok(r.stderr.includes(`info: removed the LaunchDaemon ${sb.daemonPlist()}: the instance now starts at login, not at boot`), show(r));
        }
      });
    }
  });

  describe('disable', () => {
    const cases: { what: string; setup: (sb: Sandbox) => void; calls: (sb: Sandbox, now: boolean) => Call[]; removed: string[] }[] = [
      {
        what: 'the LaunchAgent',
        setup: (sb) => { ok(sb.run(['enable', 'default'])); sb.clearCalls(); },
        calls: (sb, now) => (now ? [['launchctl', 'print', `gui/${sb.uid}`], ['launchctl', 'bootout', `gui/${sb.uid}/${AGENT}`]] : []),
        removed: ['LaunchAgent'],
      },
      {
        what: 'the LaunchDaemon, through sudo rm',
        setup: (sb) => { ok(sb.run(['enable', 'default', '--condition=boot'])); sb.clearCalls(); },
        calls: (sb, now) => [
          ...(now ? sudoLaunchctl('bootout', `system/${DAEMON}`) : []),
          ['sudo', 'rm', '-f', '--', sb.daemonPlist()],
        ],
        removed: ['LaunchDaemon'],
      },
      {
        what: 'both the LaunchAgent and the LaunchDaemon when both exist',
        setup: registerBoth,
        calls: (sb, now) => [
          ...(now ? [['launchctl', 'print', `gui/${sb.uid}`], ['launchctl', 'bootout', `gui/${sb.uid}/${AGENT}`]] : []),
          ...(now ? sudoLaunchctl('bootout', `system/${DAEMON}`) : []),
          ['sudo', 'rm', '-f', '--', sb.daemonPlist()],
        ],
        removed: ['LaunchAgent', 'LaunchDaemon'],
      },
    ];
    for (const c of cases) {
      for (const now of [false, true]) {
        it(`${now ? 'disable --now boots out and' : 'disable'} removes ${c.what}`, () => {
          sandbox();
          c.setup(sb);
          const r = ok(sb.run(['disable', 'default', ...(now ? ['--now'] : [])]));
          assert.ok(!existsSync(sb.agentPlist()));
          assert.ok(!existsSync(sb.daemonPlist()));
          assert.deepStrictEqual(calls(sb), c.calls(sb, now));
          for (const kind of c.removed) {
            const file = kind === 'LaunchAgent' ? sb.agentPlist() : sb.daemonPlist();
            assert.ok(r.stderr.includes(`info: removed the ${kind} ${file}`), show(r));
          }
          assert.equal(r.stderr.includes('add --now to stop it now'), !now, show(r));
        });
      }
    }

    it('a second disable (with or without --now) exits 0, says "not registered" and makes no calls', () => {
      sandbox();
      ok(sb.run(['enable', 'default']));
      ok(sb.run(['disable', 'default']));
      sb.clearCalls();
      for (const args of [[], ['--now']]) {
        const r = ok(sb.run(['disable', 'default', ...args]));
        assert.match(r.stderr, /instance "default" is not registered for autostart; nothing to do/);
        assert.equal(r.stdout, '');
        assert.deepStrictEqual(sb.calls(), []);
      }
    });

    it('works after the instance was deleted, as long as a registration file exists', () => {
      sandbox();
      registerBoth(sb);
      rmSync(path.join(sb.limaHome, 'default'), { recursive: true });
      ok(sb.run(['disable', 'default', '--now']));
      assert.ok(!existsSync(sb.agentPlist()));
      assert.ok(!existsSync(sb.daemonPlist()));
      assert.deepStrictEqual(calls(sb), [
        ['launchctl', 'print', `gui/${sb.uid}`],
        ['launchctl', 'bootout', `gui/${sb.uid}/${AGENT}`],
        ...sudoLaunchctl('bootout', `system/${DAEMON}`),
        ['sudo', 'rm', '-f', '--', sb.daemonPlist()],
      ]);
    });
  });

  describe('enabling twice', () => {
    for (const condition of ['login', 'boot'] as const) {
      it(`--condition=${condition} twice is not an error: same file, calls repeated`, () => {
        sandbox();
        const file = condition === 'login' ? sb.agentPlist() : sb.daemonPlist();
        ok(sb.run(['enable', 'default', `--condition=${condition}`]));
        const first = readFileSync(file, 'utf8');
        const once = calls(sb);
        ok(sb.run(['enable', 'default', `--condition=${condition}`]));
        assert.equal(readFileSync(file, 'utf8'), first);
        assert.equal(mode(file), 0o644);
        assert.deepStrictEqual(calls(sb), [...once, ...once]);
        assert.deepStrictEqual(once, condition === 'login'
          ? [['launchctl', 'print', `gui/${sb.uid}`], ['launchctl', 'enable', `gui/${sb.uid}/${AGENT}`]]
          : [installDaemon(sb), ...sudoLaunchctl('enable', `system/${DAEMON}`)]);
      });
    }
  });

  describe('--dry-run', () => {
    // Nothing may change and nothing may run, except the read-only probe for the agent's domain.
    function dryRunUnchanged(args: string[]): RunResult {
      const before = sb.snapshot();
      sb.clearCalls();
      const r = ok(sb.run(args));
      assert.deepStrictEqual(sb.snapshot(), before);
      for (const call of sb.calls()) assert.deepStrictEqual(call, ['launchctl', 'print', `gui/${sb.uid}`]);
      return r;
    }

    it('enable at login prints the plist and the commands, changes nothing', () => {
      sandbox();
      const r = dryRunUnchanged(['enable', 'default', '--dry-run', '--now']);
      assert.equal(r.stderr, '');
      assert.deepStrictEqual(sb.calls(), [['launchctl', 'print', `gui/${sb.uid}`]]);
      const { lines, files } = dryRun(r.stdout);
      assert.deepStrictEqual(lines, [
        '# enable "default" at login (launchd, keep-alive true)',
        '# dry run: nothing below was done',
        `mkdir -p ${quoted(path.dirname(sb.agentPlist()))}`,
        `write ${quoted(sb.agentPlist())} mode 0644 <<'EOF'`,
        `launchctl enable gui/${sb.uid}/${AGENT}`,
        `launchctl bootout gui/${sb.uid}/${AGENT}  # may fail: the job may not be loaded yet`,
        `launchctl bootstrap gui/${sb.uid} ${quoted(sb.agentPlist())}`,
      ]);
      assert.equal(files.length, 1);
      assert.deepStrictEqual(parse(files[0]!), expectedPlist(sb, { keepAlive: true }));
      // The text shown is the text a real run writes, byte for byte.
      ok(sb.run(['enable', 'default', '--now']));
      assert.equal(files[0], readFileSync(sb.agentPlist(), 'utf8'));
    });

    it('enable at boot --now prints the plist, the sudo install and the launchctl commands, changes nothing', () => {
      sandbox();
      const r = dryRunUnchanged(['enable', 'default', '--condition=boot', '--now', '--dry-run']);
      assert.equal(r.stderr, '');
      assert.deepStrictEqual(sb.calls(), [['launchctl', 'print', `gui/${sb.uid}`]], 'only the read-only domain probe');
      const { lines, files } = dryRun(r.stdout);
      assert.deepStrictEqual(unstage(sb, lines), [
        '# enable "default" at boot (launchd, keep-alive true)',
        '# dry run: nothing below was done',
        `launchctl bootout gui/${sb.uid}/${AGENT}  # may fail: no agent may be loaded`,
        `write ${STAGING} mode 0600 (staging copy, removed afterwards) <<'EOF'`,
        `sudo install -m 644 -o root -g wheel ${STAGING} ${quoted(sb.daemonPlist())}`,
        `sudo launchctl enable system/${DAEMON}`,
        `sudo launchctl bootout system/${DAEMON}  # may fail: the job may not be loaded yet`,
        `sudo launchctl bootstrap system ${quoted(sb.daemonPlist())}`,
      ]);
      assert.equal(files.length, 1);
      assert.deepStrictEqual(parse(files[0]!), expectedPlist(sb, { keepAlive: true, daemon: { user: 'limauser', home: true } }));
      ok(sb.run(['enable', 'default', '--condition=boot']));
      assert.equal(files[0], readFileSync(sb.daemonPlist(), 'utf8'));
    });

    it('disable --now prints every bootout and removal, changes nothing', () => {
      sandbox();
      registerBoth(sb);
      const r = dryRunUnchanged(['disable', 'default', '--now', '--dry-run']);
      assert.equal(r.stderr, '');
      assert.deepStrictEqual(sb.calls(), [['launchctl', 'print', `gui/${sb.uid}`]]);
      assert.deepStrictEqual(dryRun(r.stdout), {
        lines: [
          '# disable "default" (launchd)',
          '# dry run: nothing below was done',
          `launchctl bootout gui/${sb.uid}/${AGENT}  # may fail: the agent may not be loaded`,
          `rm -f ${quoted(sb.agentPlist())}`,
          `sudo launchctl bootout system/${DAEMON}  # may fail: the daemon may not be loaded`,
          `sudo rm -f -- ${quoted(sb.daemonPlist())}`,
        ],
        files: [],
      });
    });
  });

  it('without a GUI login (launchctl print gui/<uid> fails) the agent goes to user/<uid>, with a warning', () => {
    sandbox();
    sb.failNext('launchctl', 'print', 113);
    const r = ok(sb.run(['enable', 'default', '--now']));
    const user = `user/${sb.uid}`;
    assert.deepStrictEqual(calls(sb), [
      ['launchctl', 'print', `gui/${sb.uid}`],
      ['launchctl', 'enable', `${user}/${AGENT}`],
      ['launchctl', 'bootout', `${user}/${AGENT}`],
      ['launchctl', 'bootstrap', user, sb.agentPlist()],
    ]);
    const warning = r.stderr.split('\n').find((line) => line.startsWith('warning: '));
    assert.ok(warning, show(r));
    assert.ok(warning.includes(`no gui/${sb.uid} domain`), warning);
    assert.ok(warning.includes(`using ${user}`), warning);
    assert.ok(warning.includes('--condition=boot'), warning);
    assert.deepStrictEqual(readPlist(sb.agentPlist()), expectedPlist(sb, { keepAlive: true }));
  });

  describe('a failing launchctl', () => {
    it('bootstrap failing with 5: exit 1, the command, its code, its stderr and the error-5 hint, no stack trace', () => {
      sandbox();
      sb.failNext('launchctl', 'bootstrap', 5);
      const r = sb.run(['enable', 'default', '--now']);
      assert.equal(r.code, 1, show(r));
      const gui = `gui/${sb.uid}`;
      assert.ok(
        r.stderr.includes(`error: \`launchctl bootstrap ${gui} ${quoted(sb.agentPlist())}\` exited with code 5: launchctl: failing with exit code 5, as the test asked\n`),
        show(r),
      );
      for (const words of ['error 5', 'still loaded', 'launchctl bootout', 'override database', 'launchctl enable', 'domain does not exist', '--condition=boot', 'not owned by root:wheel']) {
        assert.ok(r.stderr.includes(words), `stderr lacks ${JSON.stringify(words)}\n${show(r)}`);
      }
      assert.doesNotMatch(r.stderr, /^\s+at /m);
      assert.doesNotMatch(r.stderr, /internal error/);
      assert.deepStrictEqual(calls(sb), [
        ['launchctl', 'print', gui],
        ['launchctl', 'enable', `${gui}/${AGENT}`],
        ['launchctl', 'bootout', `${gui}/${AGENT}`],
        ['launchctl', 'bootstrap', gui, sb.agentPlist()],
      ]);
    });

    it('bootout failing (the job was not loaded) is not an error', () => {
      sandbox();
      sb.failNext('launchctl', 'bootout', 3);
      ok(sb.run(['enable', 'default', '--now']));
      assert.deepStrictEqual(calls(sb), [
        ['launchctl', 'print', `gui/${sb.uid}`],
        ['launchctl', 'enable', `gui/${sb.uid}/${AGENT}`],
        ['launchctl', 'bootout', `gui/${sb.uid}/${AGENT}`],
        ['launchctl', 'bootstrap', `gui/${sb.uid}`, sb.agentPlist()],
      ]);
    });
  });

  it('paths with &, <, >, quotes, % and $ are XML-escaped and read back exactly', () => {
    sandbox({ homeName: 'home & <dir> 100% $x', limaHomeName: `lima "home" 'q' %h`, binName: 'bin > & <b> $PATH' });
    ok(sb.run(['enable', 'default']));
    assert.deepStrictEqual(readPlist(sb.agentPlist()), expectedPlist(sb, { keepAlive: true }));
    const agent = readFileSync(sb.agentPlist(), 'utf8');
    for (const entity of ['&amp;', '&lt;', '&gt;', '&quot;', '&apos;']) assert.ok(agent.includes(entity), `no ${entity} in\n${agent}`);
    assert.doesNotMatch(agent, /<dir>|<b>/);

    ok(sb.run(['enable', 'default', '--condition=boot']));
    assert.deepStrictEqual(readPlist(sb.daemonPlist()), expectedPlist(sb, { keepAlive: true, daemon: { user: 'limauser', home: true } }));
    assert.ok(!existsSync(sb.agentPlist()));
  });

  it('a symlinked limactl (Homebrew) is recorded as the link, not its target', () => {
    sandbox();
    const cellar = path.join(sb.root, 'Cellar', 'lima', '2.0.3', 'bin');
    mkdirSync(cellar, { recursive: true });
    cpSync(sb.limactl, path.join(cellar, 'limactl'));
    cpSync(path.join(sb.bin, 'record.sh'), path.join(cellar, 'record.sh'));
    rmSync(sb.limactl);
    symlinkSync(path.join(cellar, 'limactl'), sb.limactl);
    ok(sb.run(['enable', 'default']));
    const plist = readPlist(sb.agentPlist());
    assert.deepStrictEqual(plist, expectedPlist(sb, { keepAlive: true, limactl: sb.limactl }));
    assert.doesNotMatch(readFileSync(sb.agentPlist(), 'utf8'), /Cellar/);
  });
});
