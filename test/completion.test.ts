import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { BIN, ROOT, bashCompletions, findTool, show, type Sandbox } from './helpers.js';
import { ok, sandboxPool } from './pool.js';

// Shell completion: `completion` prints the script of templates/, and the script asks the real
// entry point `limactl-autostart --get-yargs-completions WORDS…`. The answers are tested as the
// script gets them, and the scripts themselves in a real bash (with the words bash makes, `=` a
// word of its own) and a real zsh.

const COMMANDS = ['enable', 'disable', 'status', 'logs', 'migrate', 'start-at-login', 'completion'];

/** The words offered after `limactl-autostart WORDS…` (the last word is the one being typed). */
function answers(sb: Sandbox, words: string[], env: Record<string, string> = {}): string[] {
  const r = ok(sb.run(['--get-yargs-completions', 'limactl-autostart', ...words], env));
  // Never an error printed into the shell.
  assert.equal(r.stderr, '', show(r));
  return r.stdout.split('\n').filter(Boolean);
}

/** A unit file for an instance that LIMA_HOME no longer holds: registered, not an instance. */
function registerGone(sb: Sandbox, name: string): void {
  const file = path.join(sb.home, '.config', 'systemd', 'user', `lima-vm@${name}.service`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '[Service]\nExecStart=/bin/true\n');
}

describe('shell completion', () => {
  const make = sandboxPool();
  /** Instances alpha and beta; Lima's own _config and a directory without lima.yaml are not instances. */
  const sandbox = (): Sandbox => {
    const sb = make({ platform: 'linux', instances: ['alpha', 'beta'] });
    mkdirSync(path.join(sb.limaHome, '_config'));
    mkdirSync(path.join(sb.limaHome, 'no-yaml'));
    registerGone(sb, 'gone');
    return sb;
  };

  it('completion prints the bash script for bash and the zsh script for zsh, each calling limactl-autostart --get-yargs-completions', () => {
    const sb = sandbox();
    const bash = ok(sb.run(['completion'], { SHELL: '/bin/bash' }));
    assert.equal(bash.stdout, readFileSync(path.join(ROOT, 'templates', 'completion.bash'), 'utf8'));
    assert.match(bash.stdout, /^complete -F _limactl_autostart limactl-autostart$/m);
    assert.match(bash.stdout, /\blimactl-autostart --get-yargs-completions "\$\{words\[@\]\}"/);
    const zsh = ok(sb.run(['completion'], { SHELL: '/usr/bin/zsh' }));
    assert.match(zsh.stdout, /^#compdef limactl-autostart$/m);
    assert.equal(ok(sb.run(['completion', 'zsh'])).stdout, zsh.stdout, 'the shell can be named');
    assert.equal(bash.stderr + zsh.stderr, '');
    assert.deepEqual(sb.allCalls(), [], 'it runs nothing');
    const fish = sb.run(['completion', 'fish']);
    assert.equal(fish.code, 2, show(fish));
    assert.match(fish.stderr, /^error: there is no completion script for "fish"/);
  });

  it('completion --help is help, not the script', () => {
    const sb = sandbox();
    const r = ok(sb.run(['completion', '--help']));
    assert.match(r.stdout, /Print a completion script for bash or zsh/);
    assert.doesNotMatch(r.stdout, /_limactl_autostart/);
  });

  it('--flag=value: the values of --condition, --keep-alive and --now after their `=`', () => {
    const sb = sandbox();
    assert.deepEqual(answers(sb, ['enable', 'alpha', '--condition=']), ['--condition=login', '--condition=boot']);
    assert.deepEqual(answers(sb, ['enable', 'alpha', '--condition=b']), ['--condition=boot']);
    assert.deepEqual(answers(sb, ['enable', 'alpha', '--keep-alive=']), ['--keep-alive=true', '--keep-alive=false']);
    assert.deepEqual(answers(sb, ['disable', 'alpha', '--now=f']), ['--now=false']);
    assert.deepEqual(answers(sb, ['enable', 'alpha', '--bogus=']), []);
  });

  it('only valid instance names are offered: a LIMA_HOME directory named like a command substitution is not', () => {
    const sb = sandbox();
    for (const name of ['$(touch pwned)', '`id`', 'a b']) {
      mkdirSync(path.join(sb.limaHome, name));
      writeFileSync(path.join(sb.limaHome, name, 'lima.yaml'), '');
    }
    assert.deepEqual(answers(sb, ['enable', '']).filter((w) => !w.startsWith('-')), ['alpha', 'beta']);
  });

  it('commands, then the flags of each command', () => {
    const sb = sandbox();
    assert.deepEqual(answers(sb, ['']), COMMANDS);
    assert.deepEqual(answers(sb, ['enable', '-']), ['--version', '--help', '--condition', '--keep-alive', '--user', '--now', '--wait', '--dry-run']);
    assert.deepEqual(answers(sb, ['disable', 'alpha', '']), ['--version', '--help', '--now', '--dry-run']);
    assert.deepEqual(answers(sb, ['status', '--']), ['--version', '--help', '--json']);
    assert.deepEqual(answers(sb, ['enable', 'alpha', '--now', '']), ['--version', '--help', '--condition', '--keep-alive', '--user', '--wait', '--dry-run'], 'a flag given is not offered again');
  });

  it('--condition completes to login and boot, and nothing else', () => {
    const sb = sandbox();
    assert.deepEqual(answers(sb, ['enable', 'alpha', '--condition', '']), ['login', 'boot']);
    assert.deepEqual(answers(sb, ['enable', '--condition', 'b']), ['boot']);
  });

  it('INSTANCE: enable offers the instances in LIMA_HOME; disable, status and logs the registered ones too', () => {
    const sb = sandbox();
    const names = (words: string[]): string[] => answers(sb, words).filter((w) => !w.startsWith('-'));
    assert.deepEqual(names(['enable', '']), ['alpha', 'beta']);
    assert.deepEqual(names(['enable', 'a']), ['alpha']);
    assert.deepEqual(names(['start-at-login', '']), ['alpha', 'beta']);
    assert.deepEqual(names(['disable', '']), ['alpha', 'beta', 'gone']);
    assert.deepEqual(names(['status', '']), ['alpha', 'beta', 'gone']);
    assert.deepEqual(names(['status', 'alpha', '']), ['alpha', 'beta', 'gone'], 'status takes several');
    assert.deepEqual(names(['enable', 'alpha', '']), [], 'enable takes one');
    assert.deepEqual(names(['enable', '--user', '']), [], 'the account of --user is not an instance');
    assert.deepEqual(names(['logs', '']), ['alpha', 'beta', 'gone']);
    assert.deepEqual(names(['logs', 'alpha', '']), [], 'logs takes one');
    assert.deepEqual(names(['logs', '-n', '']), [], 'the number of -n is not an instance');
    assert.deepEqual(names(['migrate', '']), []);
    // LIMA_HOME as the user sets it.
    const other = path.join(sb.root, 'other lima');
    mkdirSync(path.join(other, 'gamma'), { recursive: true });
    writeFileSync(path.join(other, 'gamma', 'lima.yaml'), '');
    assert.deepEqual(answers(sb, ['enable', ''], { LIMA_HOME: other }).filter((w) => !w.startsWith('-')), ['gamma']);
    assert.deepEqual(sb.allCalls(), [], 'names come from the disk: nothing is run');
  });

  it('a broken LIMA_HOME or environment, or a half-typed bad flag: no names, exit 0, nothing on stderr', () => {
    const sb = sandbox();
    const file = path.join(sb.root, 'not a directory');
    writeFileSync(file, '');
    assert.deepEqual(answers(sb, ['enable', ''], { LIMA_HOME: file }).filter((w) => !w.startsWith('-')), []);
    assert.deepEqual(answers(sb, ['disable', ''], { LIMA_HOME: 'relative\nwith a newline' }).filter((w) => !w.startsWith('-')), []);
    assert.deepEqual(answers(sb, ['status', ''], { USER: 'not a user' }).filter((w) => !w.startsWith('-')), []);
    chmodSync(sb.limaHome, 0o000);
    try {
      // Root reads it anyway; as another user it cannot be listed. Either way, no error.
      answers(sb, ['enable', '']);
    } finally {
      chmodSync(sb.limaHome, 0o755);
    }
    answers(sb, ['enable', '--dry-run=yes', '']);
    answers(sb, ['enabel', '']);
    answers(sb, ['--version', '']);
  });

  it('the script in a real bash, through the real entry point on PATH: commands, values and names', function () {
    if (!findTool('bash')) {
      if (process.env.CI === 'true') throw new Error('bash is not installed, and CI=true');
      console.log('      skipped: bash is not installed here');
      this.skip();
    }
    const sb = sandbox();
    // limactl-autostart by its name, as an installed package puts it on PATH.
    const bin = path.join(sb.root, 'installed bin');
    mkdirSync(bin);
    symlinkSync(BIN, path.join(bin, 'limactl-autostart'));
    const env = sb.env({ PATH: `${bin}:${sb.env().PATH}`, SHELL: '/bin/bash' });
    const script = ok(sb.run(['completion'], { SHELL: '/bin/bash' })).stdout;
    const offered = (words: string[]): string[] => {
      const r = bashCompletions(script, env, ['limactl-autostart', ...words]);
      assert.equal(r.stderr, '');
      return r.offered;
    };
    assert.deepEqual(offered(['dis']), ['disable']);
    assert.deepEqual(offered(['enable', '--condition', '']), ['login', 'boot']);
    assert.deepEqual(offered(['enable', '--dr']), ['--dry-run']);
    assert.deepEqual(offered(['enable', 'a']), ['alpha']);
    assert.deepEqual(offered(['disable', 'g']), ['gone']);
    assert.deepEqual(offered(['enable', 'g']), []);
    // `=` is a word of its own in COMP_WORDS; bash completes what follows it.
    assert.deepEqual(offered(['enable', 'alpha', '--condition', '=']), ['login', 'boot']);
    assert.deepEqual(offered(['enable', 'alpha', '--condition', '=', 'bo']), ['boot']);
    assert.deepEqual(offered(['enable', 'alpha', '--keep-alive', '=', '']), ['true', 'false']);
    assert.deepEqual(offered(['enable', 'alpha', '--condition', 'b']), ['boot']);
    // Nothing it offers is evaluated: no file appears, whatever LIMA_HOME holds.
    mkdirSync(path.join(sb.limaHome, '$(touch pwned)'));
    writeFileSync(path.join(sb.limaHome, '$(touch pwned)', 'lima.yaml'), '');
    offered(['enable', '']);
    assert.ok(!existsSync(path.join(sb.root, 'pwned')));
  });

  it('the zsh script in a real zsh without compinit loaded: no error, and it offers the values after `=`', function () {
    const zsh = findTool('zsh');
    if (!zsh) {
      if (process.env.CI === 'true') throw new Error('zsh is not installed, and CI=true');
      console.log('      skipped: zsh is not installed here');
      this.skip();
    }
    const sb = sandbox();
    const bin = path.join(sb.root, 'installed bin');
    mkdirSync(bin);
    symlinkSync(BIN, path.join(bin, 'limactl-autostart'));
    const env = sb.env({ PATH: `${bin}:${sb.env().PATH}`, SHELL: zsh });
    const script = ok(sb.run(['completion', 'zsh'])).stdout;
    // compadd is zsh's own builtin for offering words; here it prints them instead.
    const run = (words: string[]): { offered: string[]; stderr: string } => {
      const program = `source =(print -r -- "$COMPLETION_SCRIPT"); compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; }; words=(${words.map((w) => `'${w}'`).join(' ')} ); CURRENT=${words.length}; _limactl_autostart`;
      const r = spawnSync(zsh, ['-f', '-c', program], { env: { ...env, COMPLETION_SCRIPT: script, HOME: sb.home, ZDOTDIR: sb.home }, encoding: 'utf8', input: '' });
      assert.equal(r.status, 0, r.stderr);
      return { offered: r.stdout.split('\n').filter(Boolean), stderr: r.stderr };
    };
    const condition = run(['limactl-autostart', 'enable', 'alpha', '--condition=b']);
    assert.equal(condition.stderr, '');
    assert.deepEqual(condition.offered, ['--condition=boot']);
    assert.deepEqual(run(['limactl-autostart', 'dis']).offered, ['disable']);
    assert.deepEqual(run(['limactl-autostart', 'enable', 'a']).offered, ['alpha']);
  });
});
