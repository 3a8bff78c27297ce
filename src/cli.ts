import type YargsFactory from 'yargs';
import type { Argv } from 'yargs';
import { EXIT_FAILED, EXIT_USAGE, UsageError, UserError } from './errors.js';
import { CONDITIONS, type Condition } from './model.js';
import { packageVersion } from './version.js';
import { LOG_LINES, WAIT_TIMEOUT_SEC } from './tunables.js';
import { USER_NAME } from './host.js';
import * as log from './log.js';

/** The command tree. Each command imports its module only when it runs (see docs/performance.md). */
export function buildParser(yargs: typeof YargsFactory, argv: string[]) {
  const parser = yargs(argv)
    .scriptName('limactl-autostart')
    // Every message of ours is in English; yargs' own (usage errors, --help's headings) too.
    .locale('en')
    .usage('$0 <command> INSTANCE [options]\n\nStart a Lima instance at login or at boot, and restart it when its host agent crashes.\nReached as `limactl autostart …` (Lima 2.0 and 2.1) or as `limactl-autostart …` directly.')
    .command(
      'enable <instance>',
      'Register INSTANCE to start at login or at boot',
      (y) => y
        .positional('instance', { type: 'string', describe: 'Lima instance name (see `limactl list`)', demandOption: true })
        .option('condition', { choices: CONDITIONS, default: 'login' as Condition, describe: 'login: when the user logs in; boot: at boot, with nobody logged in' })
        .option('keep-alive', { type: 'boolean', default: true, describe: 'Restart the instance when its host agent fails (never after a clean `limactl stop`)' })
        .option('user', { type: 'string', describe: 'macOS with --condition=boot only: the account the instance runs as (default: you)' })
        .option('now', { type: 'boolean', default: false, describe: 'Also start it now' })
        .option('wait', { type: 'string', describe: `With --now: wait until Lima reports the instance Running (--wait=SECONDS; default ${WAIT_TIMEOUT_SEC})` })
        .option('dry-run', { type: 'boolean', default: false, describe: 'Print the files and commands, change nothing' }),
      async (args) => {
        const wait = waitSeconds(args.wait, args.now);
        const { enable } = await import('./commands/enable.js');
        await enable({
          instance: args.instance,
          condition: args.condition,
          keepAlive: args.keepAlive,
          user: checkUser(args.user),
          now: args.now,
          wait,
          dryRun: args.dryRun,
        });
      },
    )
    .command(
      'disable <instance>',
      'Remove every autostart registration of INSTANCE',
      (y) => y
        .positional('instance', { type: 'string', describe: 'Lima instance name', demandOption: true })
        .option('now', { type: 'boolean', default: false, describe: 'Also stop it now' })
        .option('dry-run', { type: 'boolean', default: false, describe: 'Print the commands, change nothing' }),
      async (args) => {
        const { disable } = await import('./commands/disable.js');
        await disable({ instance: args.instance, now: args.now, dryRun: args.dryRun });
      },
    )
    .command(
      'status [instances..]',
      'Show, for each instance, how it is registered, what the service manager says, and what is wrong',
      (y) => y
        .positional('instances', { type: 'string', describe: 'Lima instance names (default: every instance in LIMA_HOME, and every registered one)' })
        .option('json', { type: 'boolean', default: false, describe: 'Print a JSON array, one object per instance' }),
      async (args) => {
        const { status } = await import('./commands/status.js');
        await status({ instances: [args.instances ?? []].flat().map(String), json: args.json });
      },
    )
    .command(
      'logs <instance>',
      'Show the log of INSTANCE\'s service and Lima\'s own log of it',
      (y) => y
        .positional('instance', { type: 'string', describe: 'Lima instance name', demandOption: true })
        .option('lines', { alias: 'n', type: 'string', default: String(LOG_LINES), describe: 'How many of the last lines to show' })
        .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'Keep showing new lines until interrupted (Ctrl-C)' }),
      async (args) => {
        const lines = checkLines(args.lines);
        const { logs } = await import('./commands/logs.js');
        await logs({ instance: args.instance, lines, follow: args.follow });
      },
    )
    .command(
      'migrate',
      'Rewrite every registration in Lima\'s locations with the current templates',
      (y) => y
        .option('dry-run', { type: 'boolean', default: false, describe: 'Print the files and commands, change nothing' }),
      async (args) => {
        const { migrate } = await import('./commands/migrate.js');
        await migrate({ dryRun: args.dryRun });
      },
    )
    .command(
      'start-at-login [instance]',
      'Lima\'s `limactl start-at-login`: enable (or, with --enabled=false, disable) INSTANCE at login',
      startAtLoginArgs,
      runStartAtLogin,
      [],
      'use `enable INSTANCE --condition=login` or `disable INSTANCE`',
    )
    // The script calls `limactl-autostart --get-yargs-completions WORDS…`, answered by completeWords.
    .completion('completion', 'Print a completion script for bash or zsh (the shell in $SHELL): see docs/usage.md', completeWords(argv))
    .demandCommand(1, 'Name a command: enable, disable, status, logs or migrate.')
    .recommendCommands()
    // Answered in main(), before yargs (it also asks limactl): yargs only lists it in --help.
    .version('version', 'Show the versions of limactl-autostart and of limactl', packageVersion());
  return withErrors(parser, argv, 'limactl-autostart');
}

/**
 * Lima's deprecated `limactl start-at-login`, as the executable limactl-start-at-login: its own
 * name in --help, which says what replaces it.
 */
export function buildStartAtLoginParser(yargs: typeof YargsFactory, argv: string[]) {
  const parser = yargs(argv)
    .scriptName('limactl-start-at-login')
    .locale('en')
    .usage('$0 [INSTANCE] [--enabled[=true|false]]\n\nDeprecated: Lima\'s `limactl start-at-login`, kept for scripts that still call it.\nUse `limactl-autostart enable INSTANCE --condition=login` instead (and `limactl-autostart disable INSTANCE` for --enabled=false).\nNeither starts nor stops the instance.')
    .command('$0 [instance]', false, startAtLoginArgs, runStartAtLogin)
    .version(false);
  return withErrors(parser, argv, 'limactl-start-at-login');
}

/** INSTANCE and --enabled, as both ways to reach start-at-login take them. */
function startAtLoginArgs(y: Argv) {
  return y
    .positional('instance', { type: 'string', default: 'default', describe: 'Lima instance name' })
    .option('enabled', { type: 'boolean', default: true, describe: 'Register INSTANCE to start at login, with keep-alive on; false removes its registration' });
}

async function runStartAtLogin(args: { instance: string; enabled: boolean }): Promise<void> {
  const { startAtLogin } = await import('./commands/start-at-login.js');
  await startAtLogin({ instance: args.instance, enabled: args.enabled });
}

/**
 * The settings both parsers share: strict, --help, and usage errors as our own (exit 2, with a
 * hint) instead of yargs' exit.
 */
function withErrors<T>(parser: Argv<T>, argv: string[], program: Program): Argv<T> {
  const hint = `Run \`${program} --help\` for usage.`;
  return parser
    .strict()
    .help()
    .alias('h', 'help')
    .exitProcess(false)
    .fail((message, err) => {
      if (err) throw err;
      const command = argv.find((a) => !a.startsWith('-'));
      if ((command === 'enable' || command === 'disable' || command === 'logs') && /^Not enough non-option arguments: got 0/.test(message)) {
        throw new UsageError(`${command} needs INSTANCE, the name of a Lima instance`, 'Run `limactl list` to see the names of your instances (those in LIMA_HOME, ~/.lima by default).');
      }
      const recommended = /^Did you mean (\S+)\?$/.exec(message)?.[1];
      if (recommended) throw new UsageError(`unknown command ${JSON.stringify(command)}: did you mean ${recommended}?`, hint);
      throw new UsageError(message, hint);
    });
}

/**
 * --wait's value: undefined when not given (or --no-wait), the default for a bare --wait, else
 * whole seconds. It waits for what --now starts, so it needs --now.
 */
function waitSeconds(value: string | boolean | undefined, now: boolean): number | undefined {
  if (value === undefined || value === false) return undefined;
  const text = String(value);
  if (!/^\d+$/.test(text) && text !== '') throw new UsageError(`--wait=${JSON.stringify(text)} is not a number of seconds`, `Give whole seconds, as in --wait=120, or --wait alone for ${WAIT_TIMEOUT_SEC}.`);
  if (!now) throw new UsageError('--wait needs --now: it waits for the instance that --now starts', 'Add --now, or leave out --wait.');
  return text === '' ? WAIT_TIMEOUT_SEC : Number(text);
}

// Read as a string: yargs would turn `-n abc` into NaN before we could quote what was typed.
function checkLines(value: unknown): number {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) {
    throw new UsageError(`-n (--lines) takes a whole number of lines, not ${JSON.stringify(Array.isArray(value) ? value.join(' ') : String(value))}`, 'Give it once, as in -n 100.');
  }
  return Number(value);
}

/**
 * The words a shell completes: yargs' own (commands, flags, --condition's values), and INSTANCE's
 * names where the command takes one (src/commands/complete.ts). `argv` is the shell's line:
 * --get-yargs-completions, the program's name, the words typed.
 */
function completeWords(argv: string[]) {
  return (current: string, parsed: { _: (string | number)[] }, defaults: (done: (err: Error | null, words: string[] | undefined) => void) => void, done: (words: string[]) => void): void => {
    defaults((err, words) => {
      if (err) {
        done([]);
        return;
      }
      import('./commands/complete.js')
        .then(({ instanceWords }) => instanceWords(parsed._.map(String), argv.at(-2), current))
        .then((names) => done([...(words ?? []), ...names]), () => done(words ?? []));
    });
  };
}

function checkUser(user: string | undefined): string | undefined {
  if (user !== undefined && !USER_NAME.test(user)) {
    throw new UsageError(`--user ${JSON.stringify(user)} is not a valid account name`, 'Give the short name of an account, as `id -un` prints it.');
  }
  return user;
}

// yargs turns `--keep-alive=maybe` or `--dry-run=yes` into a boolean instead of refusing it; a
// typo must not silently flip a flag (a --dry-run=yes that applies the plan).
// Every option takes one value: given twice, yargs would keep both (`condition=login,boot`).
const SINGLE_VALUED = new Set(['condition', 'user', 'keep-alive', 'now', 'wait', 'dry-run', 'json', 'enabled', 'lines', 'follow']);

function checkBooleanFlags(argv: string[]): void {
  const seen = new Map<string, string>();
  for (const arg of argv) {
    if (arg === '--') return;
    const name = /^--(?:no-)?([A-Za-z-]+)(?:=|$)/.exec(arg)?.[1]?.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    if (name !== undefined && SINGLE_VALUED.has(name)) {
      const first = seen.get(name);
      if (first !== undefined) throw new UsageError(`--${name} is given twice (${JSON.stringify(first)} and ${JSON.stringify(arg)})`, 'Give each option once.');
      seen.set(name, arg);
    }
    const m = /^--(keep-alive|now|dry-run|json|enabled|follow)=(.*)$/s.exec(arg);
    if (m && m[2] !== 'true' && m[2] !== 'false') {
      throw new UsageError(`--${m[1]} takes true or false, not ${JSON.stringify(m[2])}`, 'Run `limactl-autostart --help` for usage.');
    }
  }
}

/**
 * --wait takes its value after `=` only: yargs would take the word after a bare --wait as its
 * value (`enable --now --wait default` would lose INSTANCE), so a bare one gets an empty value.
 */
function withBareWait(argv: string[]): string[] {
  const end = argv.indexOf('--');
  return argv.map((arg, i) => (arg === '--wait' && (end === -1 || i < end) ? '--wait=' : arg));
}

/** `--version` anywhere before `--`, as yargs would take it. */
function wantsVersion(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--version');
}

/** Which executable runs: bin/limactl-autostart, or bin/limactl-start-at-login (Lima's deprecated command). */
export type Program = 'limactl-autostart' | 'limactl-start-at-login';

/** Runs one command line. */
export async function main(argv: string[], program: Program = 'limactl-autostart'): Promise<void> {
  // A reader that leaves early (`status | head -1`) is no error of ours: end quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
  const build = program === 'limactl-start-at-login' ? buildStartAtLoginParser : buildParser;
  if (argv[0] === '--get-yargs-completions') {
    await complete(build, argv);
    return;
  }
  try {
    // Before yargs: scripts ask it often, and it needs none of the parser.
    if (wantsVersion(argv)) {
      const { printVersion } = await import('./commands/version.js');
      await printVersion();
      return;
    }
    checkBooleanFlags(argv);
    const { default: yargs } = await import('yargs');
    await build(yargs, withBareWait(argv)).wrap(Math.min(100, process.stdout.columns || 100)).parseAsync();
  } catch (err) {
    if (err instanceof UserError) {
      log.error(err.message, err.hint);
      process.exitCode = err.exitCode;
    } else if (err instanceof Error && err.name === 'YError') {
      log.error(err.message, 'Run `limactl-autostart --help` for usage.');
      process.exitCode = EXIT_USAGE;
    } else {
      // A bug, not a user error: keep the stack so it can be reported.
      log.error(`internal error: ${err instanceof Error ? err.stack : String(err)}`, 'Please report this at the project\'s issue tracker.');
      process.exitCode = EXIT_FAILED;
    }
  }
}

/**
 * The shell's question (the words typed so far, from the completion script): the words that may
 * come next on stdout, one a line. Whatever the words, it prints no error into the shell: a
 * half-typed line is not a usage error, and a broken LIMA_HOME gives no names.
 */
async function complete(build: typeof buildParser, argv: string[]): Promise<void> {
  try {
    const { default: yargs } = await import('yargs');
    await build(yargs, argv).parseAsync();
  } catch {
    // nothing to offer
  }
  process.exitCode = 0;
}
