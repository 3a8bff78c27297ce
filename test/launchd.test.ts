import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'plist';
import { Sandbox, show, type RunResult, type SandboxOptions, serviceArgv } from './helpers.js';
import { BOOTSTRAP_RETRY_SEC, POLL_INTERVAL_MS } from '../src/tunables.js';

// End-to-end tests of the launchd backend: every test runs bin/limactl-autostart in a sandbox
// (LIMA_AUTOSTART_PLATFORM=darwin) and looks at the files it wrote and the calls the stand-ins
// recorded. sudo's stand-in records itself and then runs the command, so `sudo launchctl X`
// shows up as two calls: ['sudo', 'launchctl', X] and then ['launchctl', X].

const AGENT = 'io.lima-vm.autostart.default';
const DAEMON = 'io.lima-vm.daemon.default';

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
    ProgramArguments: serviceArgv(limactl),
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

/** enable --now asks Lima whether the instance already runs outside launchd: one question. */
const ASK_LIMA: Call = ['limactl', 'list', '--json', 'default'];

/** A read-only probe: `launchctl print DOMAIN` or `launchctl print DOMAIN/LABEL`. */
function print(target: string): Call {
  return ['launchctl', 'print', target];
}

/** `sudo launchctl ...`: the sudo stand-in's record, then the inner launchctl's. */
function sudoLaunchctl(...args: string[]): Call[] {
  return [['sudo', 'launchctl', ...args], ['launchctl', ...args]];
}

/** root writes the LaunchDaemon from stdin: the sudo stand-in's record; the content is checked by reading the plist. */
function installDaemon(sb: Sandbox): Call {
  return ['sudo', 'tee', '--', sb.daemonPlist()];
}

/** The daemon's log files, which launchd opens as its UserName. */
function daemonLogs(sb: Sandbox): string[] {
  return ['stdout', 'stderr'].map((s) => path.join(sb.limaHome, 'default', `launchd.${s}.log`));
}

function calls(sb: Sandbox): Call[] {
  return sb.calls();
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


describe('launchd (macOS) end to end', () => {
  let sb: Sandbox;
  const sandbox = (options: SandboxOptions = {}): Sandbox => {
    sb = new Sandbox({ platform: 'darwin', ...options });
    return sb;
  };
  afterEach(() => sb?.cleanup());

  // Service targets of the sandbox's user.
  const gui = (): string => `gui/${sb.uid}`;
  const guiAgent = (): string => `gui/${sb.uid}/${AGENT}`;
  const userAgent = (): string => `user/${sb.uid}/${AGENT}`;
  const systemDaemon = `system/${DAEMON}`;

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
          assert.deepStrictEqual(calls(sb), [
            print(gui()),
            // --now: is the agent loaded in the other domain or a daemon left loaded (to boot out),
            // is the agent loaded already (to kickstart)?
            ...(now ? [print(userAgent()), print(systemDaemon), print(guiAgent()), ASK_LIMA] : []),
            ['launchctl', 'enable', guiAgent()],
            ...(now ? [['launchctl', 'bootout', guiAgent()], ['launchctl', 'bootstrap', gui(), sb.agentPlist()]] : []),
          ]);
          assert.deepStrictEqual(sb.loaded(), now ? [guiAgent()] : []);
          assert.ok(r.stderr.includes(`info: instance "default" starts at login: LaunchAgent ${sb.agentPlist()} (${guiAgent()})`), show(r));
          assert.equal(r.stderr.includes('add --now to start it now'), !now, show(r));
          assert.doesNotMatch(r.stderr, /already loaded/);
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
            // --now: is an agent left loaded in either domain (to boot out), is the daemon loaded already?
            ...(now ? [print(guiAgent()), print(userAgent()), print(systemDaemon), ASK_LIMA] : []),
            installDaemon(sb),
            ...sudoLaunchctl('enable', systemDaemon),
            ...(now ? [...sudoLaunchctl('bootout', systemDaemon), ...sudoLaunchctl('bootstrap', 'system', sb.daemonPlist())] : []),
          ]);
          assert.deepStrictEqual(sb.loaded(), now ? [systemDaemon] : []);
          assert.deepStrictEqual(readdirSync(sb.tmp), [], 'nothing is written to TMPDIR');
          assert.ok(r.stderr.includes(`info: instance "default" starts at boot as limauser: LaunchDaemon ${sb.daemonPlist()} (${systemDaemon})`), show(r));
          assert.doesNotMatch(r.stderr, /warning/);
          assert.doesNotMatch(r.stderr, /already loaded/);
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
      assert.deepStrictEqual(calls(sb), [installDaemon(sb), ...sudoLaunchctl('enable', systemDaemon)]);
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
    // The old registration is started with --now first, so that its job is loaded.
    const cases: { from: 'login' | 'boot'; to: 'login' | 'boot'; now: boolean; calls: () => Call[]; loaded: () => string[] }[] = [
      {
        from: 'login', to: 'boot', now: false,
        // The daemon is installed and enabled before the agent's file goes; the agent's job is
        // left running, no bootout: it is only asked about, to say that it runs.
        calls: () => [print(guiAgent()), print(userAgent()), installDaemon(sb), ...sudoLaunchctl('enable', systemDaemon)],
        loaded: () => [guiAgent()],
      },
      {
        from: 'login', to: 'boot', now: true,
        calls: () => [
          print(guiAgent()),
          print(userAgent()),
          print(systemDaemon),
          installDaemon(sb),
          ...sudoLaunchctl('enable', systemDaemon),
          ['launchctl', 'bootout', guiAgent()],
          // The running agent was booted out: launchd forgot it and Lima says it stopped.
          print(guiAgent()),
          ASK_LIMA,
          ...sudoLaunchctl('bootout', systemDaemon),
          ...sudoLaunchctl('bootstrap', 'system', sb.daemonPlist()),
        ],
        loaded: () => [systemDaemon],
      },
      {
        from: 'boot', to: 'login', now: false,
        // The agent is written and enabled before the daemon's file goes.
        calls: () => [
          print(gui()),
          print(systemDaemon),
          ['launchctl', 'enable', guiAgent()],
          ['sudo', 'rm', '-f', '--', sb.daemonPlist()],
        ],
        loaded: () => [systemDaemon],
      },
      {
        from: 'boot', to: 'login', now: true,
        calls: () => [
          print(gui()),
          print(userAgent()),
          // The daemon is asked about although its file exists: a running one is waited for.
          print(systemDaemon),
          print(guiAgent()),
          ['launchctl', 'enable', guiAgent()],
          ['sudo', 'rm', '-f', '--', sb.daemonPlist()],
          ...sudoLaunchctl('bootout', systemDaemon),
          print(systemDaemon),
          ASK_LIMA,
          ['launchctl', 'bootout', guiAgent()],
          ['launchctl', 'bootstrap', gui(), sb.agentPlist()],
        ],
        loaded: () => [guiAgent()],
      },
    ];
    for (const c of cases) {
      it(`${c.from} then ${c.to}${c.now ? ' --now boots the old job out' : ' without --now leaves the old job loaded'}`, () => {
        sandbox();
        ok(sb.run(['enable', 'default', `--condition=${c.from}`, '--now']));
        assert.deepStrictEqual(sb.loaded(), [c.from === 'login' ? guiAgent() : systemDaemon]);
        sb.clearCalls();
        const r = ok(sb.run(['enable', 'default', `--condition=${c.to}`, ...(c.now ? ['--now'] : [])]));
        assert.deepStrictEqual(calls(sb), c.calls());
        assert.deepStrictEqual(sb.loaded(), c.loaded());
        // Without --now, the old job runs on: said, with what hands the instance over now.
        const [old, target] = c.from === 'login' ? [guiAgent(), systemDaemon] : [systemDaemon, guiAgent()];
        const still = `info: ${old} still runs the instance, until ${c.from === 'login' ? 'its launchd session ends' : 'the next reboot'}; to hand it to ${target} now: limactl-autostart enable default --condition=${c.to} --now`;
        assert.equal(r.stderr.includes(still), !c.now, show(r));
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

    it('login --now, then boot without --now: boot --now later boots the agent out although its file is gone', () => {
      sandbox();
      ok(sb.run(['enable', 'default', '--now']));
      ok(sb.run(['enable', 'default', '--condition=boot']));
      assert.ok(!existsSync(sb.agentPlist()));
      assert.deepStrictEqual(sb.loaded(), [guiAgent()], 'the switch without --now left the agent loaded');
      sb.clearCalls();
      ok(sb.run(['enable', 'default', '--condition=boot', '--now']));
      assert.deepStrictEqual(calls(sb), [
        print(guiAgent()),
        print(userAgent()),
        print(systemDaemon),
        installDaemon(sb),
        ...sudoLaunchctl('enable', systemDaemon),
        ['launchctl', 'bootout', guiAgent()],
        print(guiAgent()),
        ASK_LIMA,
        ...sudoLaunchctl('bootout', systemDaemon),
        ...sudoLaunchctl('bootstrap', 'system', sb.daemonPlist()),
      ]);
      assert.deepStrictEqual(sb.loaded(), [systemDaemon]);
      assert.ok(!existsSync(sb.agentPlist()));
    });

    it('boot --now, then login without --now: login --now later boots the daemon out although its file is gone', () => {
      sandbox();
      ok(sb.run(['enable', 'default', '--condition=boot', '--now']));
      ok(sb.run(['enable', 'default', '--condition=login']));
      assert.ok(!existsSync(sb.daemonPlist()));
      assert.deepStrictEqual(sb.loaded(), [systemDaemon], 'the switch without --now left the daemon loaded');
      sb.clearCalls();
      ok(sb.run(['enable', 'default', '--condition=login', '--now']));
      assert.deepStrictEqual(calls(sb), [
        print(gui()),
        print(userAgent()),
        print(systemDaemon),
        print(guiAgent()),
        ['launchctl', 'enable', guiAgent()],
        ...sudoLaunchctl('bootout', systemDaemon),
        print(systemDaemon),
        ASK_LIMA,
        ['launchctl', 'bootout', guiAgent()],
        ['launchctl', 'bootstrap', gui(), sb.agentPlist()],
      ]);
      assert.deepStrictEqual(sb.loaded(), [guiAgent()]);
      assert.ok(!existsSync(sb.daemonPlist()));
    });

    describe('a failure while installing the new registration leaves the old one in place', () => {
      for (const now of [false, true]) {
        it(`login then boot${now ? ' --now' : ''}, sudo tee failing: exit 1, the LaunchAgent unchanged${now ? ' and still loaded' : ''}, no LaunchDaemon`, () => {
          sandbox();
          ok(sb.run(['enable', 'default', '--now']));
          const agent = readFileSync(sb.agentPlist(), 'utf8');
          sb.clearCalls();
          sb.failAlways('sudo', 'tee', 1);
          const r = sb.run(['enable', 'default', '--condition=boot', ...(now ? ['--now'] : [])]);
          assert.equal(r.code, 1, show(r));
          assert.ok(
            r.stderr.split('\n').includes(`error: enable "default" at boot (launchd, keep-alive true): step 1 of ${now ? 6 : 3} failed: \`sudo tee -- ${quoted(sb.daemonPlist())}\` exited with code 1: sudo: failing with exit code 1, as the test asked`),
            show(r),
          );
          assert.doesNotMatch(r.stderr, /^\s+at /m);
          assert.doesNotMatch(r.stderr, /info: removed/);
          assert.equal(readFileSync(sb.agentPlist(), 'utf8'), agent);
          assert.equal(mode(sb.agentPlist()), 0o644);
          assert.ok(!existsSync(sb.daemonPlist()));
          assert.deepStrictEqual(calls(sb), [print(guiAgent()), print(userAgent()), ...(now ? [print(systemDaemon)] : []), installDaemon(sb)]);
          assert.deepStrictEqual(readdirSync(sb.tmp), [], 'nothing is written to TMPDIR');
          assert.deepStrictEqual(sb.loaded(), [guiAgent()]);
        });

        it(`boot then login${now ? ' --now' : ''}, launchctl enable failing: exit 1, the LaunchDaemon unchanged${now ? ' and still loaded' : ''}, no sudo rm`, () => {
          sandbox();
          ok(sb.run(['enable', 'default', '--condition=boot', '--now']));
          const daemon = readFileSync(sb.daemonPlist(), 'utf8');
          sb.clearCalls();
          sb.failAlways('launchctl', 'enable', 1);
          const r = sb.run(['enable', 'default', '--condition=login', ...(now ? ['--now'] : [])]);
          assert.equal(r.code, 1, show(r));
          assert.ok(r.stderr.includes(`error: enable "default" at login (launchd, keep-alive true): step 3 of ${now ? 7 : 4} failed: \`launchctl enable ${guiAgent()}\` exited with code 1: launchctl: failing with exit code 1, as the test asked\n`), show(r));
          assert.doesNotMatch(r.stderr, /info: removed/);
          assert.equal(readFileSync(sb.daemonPlist(), 'utf8'), daemon);
          assert.equal(mode(sb.daemonPlist()), 0o644);
          assert.deepStrictEqual(calls(sb), [print(gui()), ...(now ? [print(userAgent()), print(systemDaemon), print(guiAgent())] : [print(systemDaemon)]), ['launchctl', 'enable', guiAgent()]]);
          assert.deepStrictEqual(sb.loaded(), [systemDaemon]);
        });
      }
    });
  });

  describe('disable', () => {
    // Each setup leaves the registration's job loaded, as `enable --now` or a login/boot would.
    const cases: { what: string; setup: () => void; calls: (now: boolean) => Call[]; removed: string[]; loaded: string[] }[] = [
      {
        what: 'the LaunchAgent',
        setup: () => { ok(sb.run(['enable', 'default', '--now'])); sb.clearCalls(); },
        calls: (now) => (now ? [print(guiAgent()), print(userAgent()), print(systemDaemon), ['launchctl', 'bootout', guiAgent()]] : []),
        removed: ['LaunchAgent'],
        loaded: ['agent'],
      },
      {
        what: 'the LaunchDaemon, through sudo rm',
        setup: () => { ok(sb.run(['enable', 'default', '--condition=boot', '--now'])); sb.clearCalls(); },
        calls: (now) => [
          ...(now ? [print(guiAgent()), print(userAgent()), print(systemDaemon), ...sudoLaunchctl('bootout', systemDaemon)] : []),
          ['sudo', 'rm', '-f', '--', sb.daemonPlist()],
        ],
        removed: ['LaunchDaemon'],
        loaded: ['daemon'],
      },
      {
        what: 'both the LaunchAgent and the LaunchDaemon when both exist',
        setup: () => { registerBoth(sb); sb.markLoaded(guiAgent()); sb.markLoaded(systemDaemon); },
        calls: (now) => [
          ...(now ? [print(guiAgent()), print(userAgent()), print(systemDaemon), ['launchctl', 'bootout', guiAgent()], ...sudoLaunchctl('bootout', systemDaemon)] : []),
          ['sudo', 'rm', '-f', '--', sb.daemonPlist()],
        ],
        removed: ['LaunchAgent', 'LaunchDaemon'],
        loaded: ['agent', 'daemon'],
      },
    ];
    for (const c of cases) {
      for (const now of [false, true]) {
        it(`${now ? 'disable --now boots out and' : 'disable'} removes ${c.what}`, () => {
          sandbox();
          c.setup();
          const loaded = c.loaded.map((job) => (job === 'agent' ? guiAgent() : systemDaemon));
          assert.deepStrictEqual(sb.loaded(), loaded);
          const r = ok(sb.run(['disable', 'default', ...(now ? ['--now'] : [])]));
          assert.ok(!existsSync(sb.agentPlist()));
          assert.ok(!existsSync(sb.daemonPlist()));
          assert.deepStrictEqual(calls(sb), c.calls(now));
          assert.deepStrictEqual(sb.loaded(), now ? [] : loaded);
          for (const kind of c.removed) {
            const file = kind === 'LaunchAgent' ? sb.agentPlist() : sb.daemonPlist();
            assert.ok(r.stderr.includes(`info: removed the ${kind} ${file}`), show(r));
          }
          assert.equal(r.stderr.includes('add --now to stop it now'), !now, show(r));
          assert.equal(r.stderr.includes('stopped the loaded job'), now, show(r));
        });
      }
    }

    for (const domains of [['user'], ['gui', 'user']]) {
      it(`disable --now boots the agent out of ${domains.map((d) => `${d}/<uid>`).join(' and ')} when gui/<uid> exists`, () => {
        sandbox();
        ok(sb.run(['enable', 'default']));
        const targets = domains.map((d) => (d === 'gui' ? guiAgent() : userAgent()));
        for (const t of targets) sb.markLoaded(t);
        sb.clearCalls();
        ok(sb.run(['disable', 'default', '--now']));
        assert.deepStrictEqual(calls(sb), [
          print(guiAgent()),
          print(userAgent()),
          print(systemDaemon),
          ...targets.map((t) => ['launchctl', 'bootout', t]),
        ]);
        assert.deepStrictEqual(sb.loaded(), []);
        assert.ok(!existsSync(sb.agentPlist()));
      });
    }

    it('disable --now of a LaunchDaemon that is not loaded: no bootout, no sudo for it, and no "stopped"', () => {
      sandbox();
      ok(sb.run(['enable', 'default', '--condition=boot']));
      sb.clearCalls();
      const r = ok(sb.run(['disable', 'default', '--now']));
      assert.deepStrictEqual(calls(sb), [print(guiAgent()), print(userAgent()), print(systemDaemon), ['sudo', 'rm', '-f', '--', sb.daemonPlist()]]);
      assert.doesNotMatch(r.stderr, /stopped/);
      assert.ok(r.stderr.includes(`info: removed the LaunchDaemon ${sb.daemonPlist()}`), show(r));
    });

    it('disable --now boots out a job that is loaded although no file is left', () => {
      sandbox();
      sb.markLoaded(guiAgent());
      sb.markLoaded(systemDaemon);
      const r = ok(sb.run(['disable', 'default', '--now']));
      assert.deepStrictEqual(calls(sb), [
        print(guiAgent()),
        print(userAgent()),
        print(systemDaemon),
        ['launchctl', 'bootout', guiAgent()],
        ...sudoLaunchctl('bootout', systemDaemon),
      ]);
      assert.deepStrictEqual(sb.loaded(), []);
      assert.doesNotMatch(r.stderr, /not registered/);
    });

    it('a second disable exits 0 and says "not registered": no calls, with --now only the read-only probes', () => {
      sandbox();
      ok(sb.run(['enable', 'default']));
      ok(sb.run(['disable', 'default']));
      const before = sb.snapshot();
      for (const now of [false, true]) {
        sb.clearCalls();
        const r = ok(sb.run(['disable', 'default', ...(now ? ['--now'] : [])]));
        assert.equal(r.stderr, 'info: instance "default" is not registered for autostart; nothing to do\n');
        assert.equal(r.stdout, '');
        assert.deepStrictEqual(sb.calls(), now ? [print(guiAgent()), print(userAgent()), print(systemDaemon)] : []);
        assert.deepStrictEqual(sb.snapshot(), before);
        assert.deepStrictEqual(sb.loaded(), []);
      }
    });

    it('works after the instance was deleted, as long as a registration file exists', () => {
      sandbox();
      registerBoth(sb);
      sb.markLoaded(guiAgent());
      sb.markLoaded(systemDaemon);
      rmSync(path.join(sb.limaHome, 'default'), { recursive: true });
      ok(sb.run(['disable', 'default', '--now']));
      assert.ok(!existsSync(sb.agentPlist()));
      assert.ok(!existsSync(sb.daemonPlist()));
      assert.deepStrictEqual(calls(sb), [
        print(guiAgent()),
        print(userAgent()),
        print(systemDaemon),
        ['launchctl', 'bootout', guiAgent()],
        ...sudoLaunchctl('bootout', systemDaemon),
        ['sudo', 'rm', '-f', '--', sb.daemonPlist()],
      ]);
      assert.deepStrictEqual(sb.loaded(), []);
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
          ? [print(gui()), ['launchctl', 'enable', guiAgent()]]
          : [installDaemon(sb), ...sudoLaunchctl('enable', systemDaemon)]);
      });
    }

    // Provisioning tools run `enable --now` on every run: a loaded job must not be restarted.
    for (const condition of ['login', 'boot'] as const) {
      for (const keepAlive of [true, false]) {
        it(`--condition=${condition} --now twice${keepAlive ? '' : ' (the second with --keep-alive=false)'}: the second run only kickstarts the loaded job and says it keeps its settings`, () => {
          sandbox();
          const file = condition === 'login' ? sb.agentPlist() : sb.daemonPlist();
          const target = condition === 'login' ? guiAgent() : systemDaemon;
          ok(sb.run(['enable', 'default', `--condition=${condition}`, '--now']));
          assert.deepStrictEqual(sb.loaded(), [target]);
          sb.clearCalls();
          const r = ok(sb.run(['enable', 'default', `--condition=${condition}`, '--now', `--keep-alive=${keepAlive}`]));
          assert.deepStrictEqual(sb.loaded(), [target], 'the job was neither booted out nor bootstrapped');
          assert.deepStrictEqual(calls(sb), condition === 'login'
            ? [print(gui()), print(userAgent()), print(systemDaemon), print(guiAgent()), ['launchctl', 'enable', guiAgent()], ['launchctl', 'kickstart', guiAgent()]]
            : [print(guiAgent()), print(userAgent()), print(systemDaemon), installDaemon(sb), ...sudoLaunchctl('enable', systemDaemon), ...sudoLaunchctl('kickstart', systemDaemon)]);
          // The file is rewritten with the new settings; the loaded job keeps the old ones.
          assert.deepStrictEqual(readPlist(file), expectedPlist(sb, { keepAlive, ...(condition === 'boot' ? { daemon: { user: 'limauser', home: true } } : {}) }));
          const again = condition === 'login' ? 'a new login' : 'a reboot';
          assert.ok(
            r.stderr.includes(`info: ${target} was already loaded: it keeps its previous settings until it is loaded again (\`limactl-autostart disable --now\`, then \`enable --now\`, or ${again})\n`),
            show(r),
          );
          assert.doesNotMatch(r.stderr, /add --now/);
        });
      }
    }
  });

  describe('--dry-run', () => {
    // Nothing may change and nothing may run, except read-only `launchctl print` probes.
    function dryRunUnchanged(args: string[]): RunResult {
      const before = sb.snapshot();
      const loaded = sb.loaded();
      sb.clearCalls();
      const r = ok(sb.run(args));
      assert.deepStrictEqual(sb.snapshot(), before);
      assert.deepStrictEqual(sb.loaded(), loaded);
      for (const call of sb.calls()) assert.ok(call[0] === 'launchctl' ? call[1] === 'print' : isDeepStrictEqual(call, ASK_LIMA), JSON.stringify(call));
      return r;
    }

    it('enable at login prints the plist and the commands, changes nothing', () => {
      sandbox();
      const r = dryRunUnchanged(['enable', 'default', '--dry-run', '--now']);
      assert.equal(r.stderr, '');
      assert.deepStrictEqual(sb.calls(), [print(gui()), print(userAgent()), print(systemDaemon), print(guiAgent()), ASK_LIMA]);
      const { lines, files } = dryRun(r.stdout);
      assert.deepStrictEqual(lines, [
        '# enable "default" at login (launchd, keep-alive true)',
        '# dry run: nothing below was done',
        `mkdir -p ${quoted(path.dirname(sb.agentPlist()))}`,
        `write ${quoted(sb.agentPlist())} mode 0644 <<'EOF'`,
        `launchctl enable ${guiAgent()}`,
        `launchctl bootout ${guiAgent()}  # may fail: the job is not loaded`,
        `launchctl bootstrap ${gui()} ${quoted(sb.agentPlist())}  # tried again while it fails with 37 or 5 (up to 30 s)`,
        '# if a step fails, the steps before it are undone: files are restored as they were, and',
        `#   after \`launchctl bootout ${guiAgent()}\`: launchctl bootstrap ${gui()} ${quoted(sb.agentPlist())}  # tried again while it fails with 37 or 5 (up to 30 s)`,
        `#   after \`launchctl bootstrap ${gui()} ${quoted(sb.agentPlist())}\`: launchctl bootout ${guiAgent()}  # then wait until \`launchctl print ${guiAgent()}\` fails and Lima no longer reports "default" Running (up to 300 s)`,
      ]);
      assert.equal(files.length, 1);
      assert.deepStrictEqual(parse(files[0]!), expectedPlist(sb, { keepAlive: true }));
      // The text shown is the text a real run writes, byte for byte.
      ok(sb.run(['enable', 'default', '--now']));
      assert.equal(files[0], readFileSync(sb.agentPlist(), 'utf8'));
    });

    it('enable at login --now with the agent loaded prints a kickstart, changes nothing', () => {
      sandbox();
      ok(sb.run(['enable', 'default', '--now']));
      const r = dryRunUnchanged(['enable', 'default', '--dry-run', '--now']);
      assert.equal(r.stderr, '');
      assert.deepStrictEqual(sb.calls(), [print(gui()), print(userAgent()), print(systemDaemon), print(guiAgent())]);
      assert.deepStrictEqual(dryRun(r.stdout).lines.slice(4), [`launchctl enable ${guiAgent()}`, `launchctl kickstart ${guiAgent()}`]);
    });

    it('enable at boot --now prints the plist that sudo tee writes and the launchctl commands, changes nothing', () => {
      sandbox();
      sb.markLoaded(guiAgent());
      const r = dryRunUnchanged(['enable', 'default', '--condition=boot', '--now', '--dry-run']);
      assert.equal(r.stderr, '');
      assert.deepStrictEqual(sb.calls(), [print(guiAgent()), print(userAgent()), print(systemDaemon)], 'only the read-only probes');
      const { lines, files } = dryRun(r.stdout);
      assert.deepStrictEqual(lines, [
        '# enable "default" at boot (launchd, keep-alive true)',
        '# dry run: nothing below was done',
        `sudo tee -- ${quoted(sb.daemonPlist())} <<'EOF'`,
        `sudo launchctl enable ${systemDaemon}`,
        `launchctl bootout ${guiAgent()}  # may fail: it may have stopped meanwhile; then wait until \`launchctl print ${guiAgent()}\` fails and Lima no longer reports "default" Running (up to 300 s)`,
        `sudo launchctl bootout ${systemDaemon}  # may fail: the job is not loaded`,
        `sudo launchctl bootstrap system ${quoted(sb.daemonPlist())}  # tried again while it fails with 37 or 5 (up to 30 s)`,
        '# if a step fails, the steps before it are undone: files are restored as they were, and',
        `#   after \`sudo tee -- ${quoted(sb.daemonPlist())}\`: sudo rm -f -- ${quoted(sb.daemonPlist())}`,
        `#   after \`launchctl bootout ${guiAgent()}\`: launchctl bootstrap ${gui()} ${quoted(sb.agentPlist())}  # tried again while it fails with 37 or 5 (up to 30 s)`,
        `#   after \`sudo launchctl bootout ${systemDaemon}\`: sudo launchctl bootstrap system ${quoted(sb.daemonPlist())}  # tried again while it fails with 37 or 5 (up to 30 s)`,
        `#   after \`sudo launchctl bootstrap system ${quoted(sb.daemonPlist())}\`: sudo launchctl bootout ${systemDaemon}  # then wait until \`launchctl print ${systemDaemon}\` fails and Lima no longer reports "default" Running (up to 300 s)`,
      ]);
      assert.equal(files.length, 1);
      assert.deepStrictEqual(parse(files[0]!), expectedPlist(sb, { keepAlive: true, daemon: { user: 'limauser', home: true } }));
      ok(sb.run(['enable', 'default', '--condition=boot']));
      assert.equal(files[0], readFileSync(sb.daemonPlist(), 'utf8'));
    });

    it('disable --now prints every bootout and removal, changes nothing', () => {
      sandbox();
      registerBoth(sb);
      sb.markLoaded(guiAgent());
      sb.markLoaded(systemDaemon);
      const r = dryRunUnchanged(['disable', 'default', '--now', '--dry-run']);
      assert.equal(r.stderr, '');
      assert.deepStrictEqual(sb.calls(), [print(guiAgent()), print(userAgent()), print(systemDaemon)]);
      const { lines, files } = dryRun(r.stdout);
      assert.deepStrictEqual({ lines, files }, {
        lines: [
          '# disable "default" (launchd)',
          '# dry run: nothing below was done',
          `launchctl bootout ${guiAgent()}  # may fail: it may have stopped meanwhile`,
          `sudo launchctl bootout ${systemDaemon}  # may fail: the daemon may not be loaded`,
          `rm -f ${quoted(sb.agentPlist())}`,
          `sudo rm -f -- ${quoted(sb.daemonPlist())}`,
          '# if a step fails, the steps before it are undone: files are restored as they were, and',
          `#   after \`launchctl bootout ${guiAgent()}\`: launchctl bootstrap ${gui()} ${quoted(sb.agentPlist())}  # tried again while it fails with 37 or 5 (up to 30 s)`,
          `#   after \`sudo launchctl bootout ${systemDaemon}\`: sudo launchctl bootstrap system ${quoted(sb.daemonPlist())}  # tried again while it fails with 37 or 5 (up to 30 s)`,
          `#   after \`sudo rm -f -- ${quoted(sb.daemonPlist())}\`: sudo tee -- ${quoted(sb.daemonPlist())}`,
        ],
        files: [],
      });
    });
  });

  describe('without a GUI login (SSH into a headless Mac: launchd has no gui/<uid>)', () => {
    for (const now of [true, false]) {
      it(`the agent goes to user/<uid>, with a warning${now ? ' that `limactl stop` cannot stop it, the commands that can,' : ''} and --condition=boot for a headless Mac`, () => {
        sandbox();
        sb.noGuiLogin();
        const r = ok(sb.run(['enable', 'default', ...(now ? ['--now'] : [])]));
        const user = `user/${sb.uid}`;
        assert.deepStrictEqual(calls(sb), [
          print(gui()),
          ...(now ? [print(guiAgent()), print(systemDaemon), print(userAgent()), ASK_LIMA] : []),
          ['launchctl', 'enable', userAgent()],
          ...(now ? [['launchctl', 'bootout', userAgent()], ['launchctl', 'bootstrap', user, sb.agentPlist()]] : []),
        ]);
        assert.deepStrictEqual(sb.loaded(), now ? [userAgent()] : []);
        const warning = r.stderr.slice(r.stderr.indexOf('warning: '), r.stderr.indexOf('\ninfo: '));
        assert.match(warning, new RegExp(`^warning: launchd has no gui/${sb.uid} domain \\(no GUI login: SSH or a headless Mac\\?\\), so the agent goes to user/${sb.uid}, the domain of background sessions, which can outlive the last logout\\.\n`));
        assert.doesNotMatch(warning, /only while/);
        const stop = `\`limactl stop default\` will not be able to stop this job: Lima stops an instance its agent started with \`launchctl bootout ${guiAgent()}\`, which does not exist here. To stop it: limactl-autostart disable default --now, or launchctl bootout ${userAgent()}\n`;
        assert.equal(warning.includes(stop), now, warning);
        assert.ok(warning.endsWith('On a Mac nobody logs in to at the GUI (headless), use --condition=boot: a LaunchDaemon starts at boot, and `limactl stop` stops it.'), warning);
        assert.deepStrictEqual(readPlist(sb.agentPlist()), expectedPlist(sb, { keepAlive: true }));
      });
    }

    it('the stand-in answers 125 for gui/<uid> and its jobs, as launchctl does without a GUI login; user/<uid> and system answer', () => {
      sandbox();
      sb.noGuiLogin();
      const launchctl = (...args: string[]) => spawnSync(path.join(sb.bin, 'launchctl'), args, { env: sb.env(), encoding: 'utf8' });
      for (const args of [['print', gui()], ['print', guiAgent()], ['bootstrap', gui(), sb.agentPlist()], ['bootout', guiAgent()]]) {
        const r = launchctl(...args);
        assert.equal(r.status, 125, args.join(' '));
        assert.match(r.stderr, /125: Domain does not support specified action/);
      }
      assert.equal(launchctl('print', `user/${sb.uid}`).status, 0);
      assert.equal(launchctl('print', 'system').status, 0);
    });
  });

  describe("the daemon's log files (launchd opens them as UserName)", () => {
    it('missing ones are left to launchd, which creates them as the daemon\'s account: no step touches them', () => {
      sandbox();
      ok(sb.run(['enable', 'default', '--condition=boot']));
      assert.deepStrictEqual(calls(sb), [installDaemon(sb), ...sudoLaunchctl('enable', systemDaemon)]);
      for (const file of daemonLogs(sb)) assert.ok(!existsSync(file), file);
    });

    it('an existing one owned by someone else: refused, exit 1, what and how to fix it without sudo, nothing changed', function () {
      if (process.getuid?.() !== 0) {
        console.log('      skipped: giving a file to another uid needs root');
        this.skip();
      }
      sandbox();
      const [stdout, stderr] = daemonLogs(sb) as [string, string];
      writeFileSync(stdout, 'old output\n');
      writeFileSync(stderr, 'old errors\n');
      chownSync(stderr, 4321, 4322);
      const before = sb.snapshot();
      const r = sb.run(['enable', 'default', '--condition=boot']);
      assert.equal(r.code, 1, show(r));
      assert.ok(r.stderr.includes(`error: ${stderr} is owned by uid 4321, not by limauser: launchd opens the daemon's log as limauser, could not open it, and the job would fail with exit 78 at every try\n  Remove it (it is in your own directory: no sudo is needed), then run the command again: rm ${quoted(stderr)}\n`), show(r));
      assert.deepStrictEqual(sb.snapshot(), before);
      assert.deepStrictEqual(calls(sb).filter((c) => c[0] === 'sudo'), []);
    });

    it('--user other: nothing privileged touches them, whoever owns them', () => {
      sandbox();
      for (const file of daemonLogs(sb)) writeFileSync(file, '');
      const dry = ok(sb.run(['enable', 'default', '--condition=boot', '--user', 'other', '--dry-run']));
      for (const file of daemonLogs(sb)) assert.ok(!dry.stdout.includes(quoted(file)), dry.stdout);
      assert.doesNotMatch(dry.stdout, /chown|install/);
    });

    it('a directory where a log file should be: exit 1, what and why, nothing written, no sudo', () => {
      sandbox();
      mkdirSync(daemonLogs(sb)[1]!);
      const before = sb.snapshot();
      const r = sb.run(['enable', 'default', '--condition=boot']);
      assert.equal(r.code, 1, show(r));
      assert.ok(r.stderr.includes(`error: ${daemonLogs(sb)[1]} is a directory: launchd opens the daemon's log as limauser, could not open it, and the job would fail with exit 78 at every try\n`), show(r));
      assert.deepStrictEqual(sb.snapshot(), before);
      assert.deepStrictEqual(calls(sb).filter((c) => c[0] === 'sudo'), []);
    });
  });

  describe('a failing launchctl', () => {
    it('bootstrap failing with 5: exit 1, the command, its code, its stderr and the error-5 hint, no stack trace', () => {
      sandbox();
      sb.failAlways('launchctl', 'bootstrap', 5);
      const r = sb.run(['enable', 'default', '--now']);
      assert.equal(r.code, 1, show(r));
      assert.ok(
        r.stderr.includes(`error: enable "default" at login (launchd, keep-alive true): step 5 of 5 failed: \`launchctl bootstrap ${gui()} ${quoted(sb.agentPlist())}\` exited with code 5: launchctl: failing with exit code 5, as the test asked\n`),
        show(r),
      );
      for (const words of ['error 5', 'still loaded', 'launchctl bootout', 'override database', 'launchctl enable', 'domain does not exist', '--condition=boot', 'not owned by root:wheel', 'plutil -lint']) {
        assert.ok(r.stderr.includes(words), `stderr lacks ${JSON.stringify(words)}\n${show(r)}`);
      }
      // A log file launchd cannot open fails the job later, with exit 78, not the bootstrap.
      assert.doesNotMatch(r.stderr, /log path|StandardOutPath/);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
      assert.doesNotMatch(r.stderr, /internal error/);
      assert.deepStrictEqual(calls(sb), [
        print(gui()),
        print(userAgent()),
        print(systemDaemon),
        print(guiAgent()),
        ASK_LIMA,
        ['launchctl', 'enable', guiAgent()],
        ['launchctl', 'bootout', guiAgent()],
        // 5 may mean "still tearing down": tried at once, then after each pause for BOOTSTRAP_RETRY_SEC.
        ...Array.from({ length: (BOOTSTRAP_RETRY_SEC * 1000) / POLL_INTERVAL_MS + 1 }, () => ['launchctl', 'bootstrap', gui(), sb.agentPlist()]),
      ]);
      assert.deepStrictEqual(sb.loaded(), []);
    });

    it('bootout failing (the job was not loaded) is not an error', () => {
      sandbox();
      sb.failAlways('launchctl', 'bootout', 3);
      ok(sb.run(['enable', 'default', '--now']));
      assert.deepStrictEqual(calls(sb), [
        print(gui()),
        print(userAgent()),
        print(systemDaemon),
        print(guiAgent()),
        ASK_LIMA,
        ['launchctl', 'enable', guiAgent()],
        ['launchctl', 'bootout', guiAgent()],
        ['launchctl', 'bootstrap', gui(), sb.agentPlist()],
      ]);
      assert.deepStrictEqual(sb.loaded(), [guiAgent()]);
    });
  });

  describe('an agent loaded in both domains', () => {
    it('enable --now from a GUI login boots out the copy an SSH session loaded into user/<uid>', () => {
      sandbox();
      sb.noGuiLogin(); // the agent goes to user/<uid>
      ok(sb.run(['enable', 'default', '--now']));
      assert.deepStrictEqual(sb.loaded(), [userAgent()]);
      rmSync(path.join(sb.fakeDir, 'launchd-no-gui')); // a GUI login now
      sb.clearCalls();
      ok(sb.run(['enable', 'default', '--now']));
      assert.deepStrictEqual(calls(sb), [
        print(gui()),
        print(userAgent()),
        print(systemDaemon),
        print(guiAgent()),
        ['launchctl', 'enable', guiAgent()],
        ['launchctl', 'bootout', userAgent()],
        print(userAgent()),
        ['limactl', 'list', '--json', 'default'],
        ['launchctl', 'bootout', guiAgent()],
        ['launchctl', 'bootstrap', gui(), sb.agentPlist()],
      ]);
      assert.deepStrictEqual(sb.loaded(), [guiAgent()], 'one job for the instance, not two');
    });
  });

  describe('under sudo', () => {
    // SUDO_USER set while the uid is 0: HOME and the launchd domains would be root's.
    const cases: { args: string[]; setup: () => void }[] = [
      { args: ['enable', 'default', '--now'], setup: () => {} },
      { args: ['enable', 'default', '--condition=boot', '--now'], setup: () => {} },
      { args: ['enable', 'default', '--condition=boot', '--dry-run'], setup: () => {} },
      // Checked before the instance is looked up in root's HOME, where it would not be found.
      { args: ['enable', 'nosuch'], setup: () => {} },
      { args: ['disable', 'default', '--now'], setup: () => { registerBoth(sb); sb.markLoaded(guiAgent()); sb.markLoaded(systemDaemon); } },
    ];
    for (const c of cases) {
      it(`${c.args.join(' ')} is refused: exit 1, a message about sudo, nothing written, no calls`, function () {
        if (process.getuid?.() !== 0) {
          console.log('      skipped: the sudo guard applies only when the uid is 0, and these tests do not run as root');
          this.skip();
        }
        sandbox();
        c.setup();
        const before = sb.snapshot();
        const loaded = sb.loaded();
        const r = sb.run(c.args, { SUDO_USER: 'limauser' });
        assert.equal(r.code, 1, show(r));
        assert.ok(r.stderr.startsWith('error: limactl-autostart is running under sudo (for limauser); it must run as the user who owns the instance\n'), show(r));
        assert.match(r.stderr, /Run it again without sudo/);
        assert.doesNotMatch(r.stderr, /^\s+at /m);
        assert.equal(r.stdout, '');
        assert.deepStrictEqual(sb.snapshot(), before);
        assert.deepStrictEqual(sb.loaded(), loaded);
        assert.deepStrictEqual(sb.calls(), []);
      });
    }
  });

  describe('a plist limactl-autostart did not write', () => {
    // As Lima's own `limactl start-at-login` or a hand-made plist would leave it: no header.
    const foreign = (label: string): string => [
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
      '<plist version="1.0">',
      '<dict>',
      `  <key>Label</key><string>${label}</string>`,
      '  <key>ProgramArguments</key><array><string>/usr/local/bin/limactl</string><string>start</string><string>default</string></array>',
      '  <key>RunAtLoad</key><true/>',
      '</dict>',
      '</plist>',
      '',
    ].join('\n');

    for (const condition of ['login', 'boot'] as const) {
      it(`--condition=${condition} replaces it and says so, once`, () => {
        sandbox();
        const file = condition === 'login' ? sb.agentPlist() : sb.daemonPlist();
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, foreign(condition === 'login' ? AGENT : DAEMON), { mode: 0o644 });
        // It does not run `limactl start default --foreground`: it does not read as Lima's, and the
        // note says what was not carried over (test/adopt.test.ts has Lima's own files).
        const note = `info: replaced ${file}, which limactl-autostart had not written; not carried over: it does not run \`limactl start default --foreground\`\n`;
        const r = ok(sb.run(['enable', 'default', `--condition=${condition}`]));
        assert.ok(r.stderr.includes(note), show(r));
        assert.deepStrictEqual(readPlist(file), expectedPlist(sb, { keepAlive: true, ...(condition === 'boot' ? { daemon: { user: 'limauser', home: true } } : {}) }));
        assert.match(readFileSync(file, 'utf8'), /Generated by limactl-autostart /);
        // The file is now its own: a second run says nothing of the kind.
        const again = ok(sb.run(['enable', 'default', `--condition=${condition}`]));
        assert.doesNotMatch(again.stderr, /had not written/);
      });
    }
  });

  it('paths with &, <, >, quotes, % and $ are XML-escaped and read back exactly', () => {
    sandbox({ homeName: 'home & <dir> 100% $x', limaHomeName: `lima "home" 'q' %h`, binName: 'bin > & <b> $PATH' });
    ok(sb.run(['enable', 'default']));
    assert.deepStrictEqual(readPlist(sb.agentPlist()), expectedPlist(sb, { keepAlive: true }));
    const agent = readFileSync(sb.agentPlist(), 'utf8');
    for (const entity of ['&amp;', '&lt;', '&gt;']) assert.ok(agent.includes(entity), `no ${entity} in\n${agent}`);
    assert.doesNotMatch(agent, /<dir>|<b>/);

    ok(sb.run(['enable', 'default', '--condition=boot']));
    assert.deepStrictEqual(readPlist(sb.daemonPlist()), expectedPlist(sb, { keepAlive: true, daemon: { user: 'limauser', home: true } }));
    assert.ok(!existsSync(sb.agentPlist()));
  });

  it('paths with C1 controls and Unicode line separators are written as character references and read back exactly', () => {
    sandbox({ homeName: 'home\u2028dir\u0085', limaHomeName: 'lima\u2029home', binName: 'bin\u0080' });
    ok(sb.run(['enable', 'default']));
    assert.deepStrictEqual(readPlist(sb.agentPlist()), expectedPlist(sb, { keepAlive: true }));
    const agent = readFileSync(sb.agentPlist(), 'utf8');
    for (const ref of ['&#x2028;', '&#x85;', '&#x2029;', '&#x80;']) assert.ok(agent.includes(ref), `no ${ref} in\n${agent}`);
    assert.doesNotMatch(agent, /[\u0080-\u009f\u2028\u2029]/);
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
