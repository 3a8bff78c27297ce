import type YargsFactory from 'yargs';
import type { Argv, Options } from 'yargs';
import { EXIT_FAILED, quote, UsageError, UserError } from './errors.js';
import { CONDITIONS, type Condition } from './model.js';
import { LOG_LINES, LOG_LINES_MAX, WAIT_MAX_SEC, WAIT_TIMEOUT_SEC } from './tunables.js';
import { USER_NAME } from './host.js';
import { Interrupted, listenForSignals } from './signals.js';
import * as log from './log.js';

/** An option as yargs takes it; `equalsOnly`: its value comes after `=` only (`--wait=SECONDS`), never from the next word. */
type Spec = Options & { equalsOnly?: true };

interface Command {
  name: string;
  /** `required`: checked before yargs parses, to say a missing one in our words; `registered`: may name an instance deleted from LIMA_HOME since. */
  positional?: { name: string; describe: string; required?: true; many?: true; registered?: true; default?: string };
  describe: string;
  /** Listed, in the full --help, with this advice; left out of the commands an error names. */
  deprecated?: string;
  options: Record<string, Spec>;
  run: (args: Record<string, unknown>) => Promise<void>;
}

const INSTANCE = { name: 'instance', describe: 'Lima instance name (see `limactl list`)', required: true } as const;
const dryRun = (describe: string): Spec => ({ type: 'boolean', default: false, describe });

// The one table of commands and options: yargs is built from it, and so are the guards below.
const COMMANDS: Command[] = [
  {
    name: 'enable',
    positional: INSTANCE,
    describe: 'Register INSTANCE to start at login or at boot',
    options: {
      condition: { choices: CONDITIONS, default: 'login' as Condition, describe: 'login: when the user logs in; boot: at boot, with nobody logged in' },
      'keep-alive': { type: 'boolean', default: true, describe: 'Restart the instance when its host agent fails (never after a clean `limactl stop`)' },
      user: { type: 'string', describe: 'macOS with --condition=boot only: the account the instance runs as (default: you)' },
      now: { type: 'boolean', default: false, describe: 'Also start it now' },
      wait: { type: 'string', equalsOnly: true, describe: `With --now: wait until Lima reports the instance Running (--wait=SECONDS; default ${WAIT_TIMEOUT_SEC})` },
      'dry-run': dryRun('Print the files and commands, change nothing'),
    },
    run: async (a) =>
      (await import('./commands/enable.js')).enable({
        instance: a.instance as string,
        condition: a.condition as Condition,
        keepAlive: a.keepAlive as boolean,
        user: checkUser(a.user as string | undefined),
        now: a.now as boolean,
        wait: waitSeconds(a.wait as string | false | undefined, a.now as boolean),
        dryRun: a.dryRun as boolean,
      }),
  },
  {
    name: 'disable',
    positional: { ...INSTANCE, describe: 'Lima instance name', registered: true },
    describe: 'Remove every autostart registration of INSTANCE',
    options: { now: { type: 'boolean', default: false, describe: 'Also stop it now' }, 'dry-run': dryRun('Print the commands, change nothing') },
    run: async (a) => (await import('./commands/disable.js')).disable({ instance: a.instance as string, now: a.now as boolean, dryRun: a.dryRun as boolean }),
  },
  {
    name: 'status',
    positional: { name: 'instances', describe: 'Lima instance names (default: every instance in LIMA_HOME, and every registered one)', many: true, registered: true },
    describe: 'Show, for each instance, how it is registered, what the service manager says, and what is wrong',
    options: { json: { type: 'boolean', default: false, describe: 'Print a JSON array, one object per instance' } },
    run: async (a) => (await import('./commands/status.js')).status({ instances: [a.instances ?? []].flat().map(String), json: a.json as boolean }),
  },
  {
    name: 'logs',
    positional: { ...INSTANCE, describe: 'Lima instance name', registered: true },
    describe: 'Show the log of INSTANCE\'s service and Lima\'s own log of it',
    options: {
      // A string: yargs would turn `-n abc` into NaN before it could be quoted as typed.
      lines: { alias: 'n', type: 'string', default: String(LOG_LINES), describe: 'How many of the last lines to show' },
      follow: { alias: 'f', type: 'boolean', default: false, describe: 'Keep showing new lines until interrupted (Ctrl-C)' },
    },
    run: async (a) => (await import('./commands/logs.js')).logs({ instance: a.instance as string, lines: checkLines(a.lines), follow: a.follow as boolean }),
  },
  {
    name: 'migrate',
    describe: 'Rewrite every registration in Lima\'s locations with the current templates',
    options: { 'dry-run': dryRun('Print the files and commands, change nothing') },
    run: async (a) => (await import('./commands/migrate.js')).migrate({ dryRun: a.dryRun as boolean }),
  },
  {
    // Lima's deprecated `limactl start-at-login [INSTANCE] [--enabled[=BOOL]]`, as a command and as its own executable.
    name: 'start-at-login',
    positional: { name: 'instance', describe: 'Lima instance name', default: 'default' },
    describe: 'Lima\'s `limactl start-at-login`: enable (or, with --enabled=false, disable) INSTANCE at login',
    deprecated: 'use `enable INSTANCE --condition=login` or `disable INSTANCE`',
    options: { enabled: { type: 'boolean', default: true, describe: 'Register INSTANCE to start at login, with keep-alive on; false removes its registration' } },
    run: async (a) => (await import('./commands/start-at-login.js')).startAtLogin({ instance: a.instance as string, enabled: a.enabled as boolean }),
  },
  {
    name: 'completion',
    positional: { name: 'shell', describe: 'bash or zsh (default: the shell in $SHELL)' },
    describe: 'Print a completion script for bash or zsh: `limactl-autostart completion >> ~/.bashrc` (or ~/.zshrc)',
    options: {},
    run: async (a) => (await import('./commands/completion.js')).printCompletion(a.shell as string | undefined),
  },
];

const commandNamed = (name: string | undefined): Command | undefined => COMMANDS.find((c) => c.name === name);

/** Options every command takes. */
const GLOBAL: Record<string, Spec> = {
  help: { alias: 'h', type: 'boolean', describe: 'Show help' },
  version: { type: 'boolean', describe: 'Show the versions of limactl-autostart and of limactl' },
};

/** Which executable runs: bin/limactl-autostart, or bin/limactl-start-at-login (Lima's deprecated command). */
export type Program = 'limactl-autostart' | 'limactl-start-at-login';

/** Ends a run that --version answered: no command runs after it. */
class Answered extends Error {}

/** Adds `command` to yargs as `name`; `$0` makes it the default command, run with no name before its words. */
function add(parser: Argv, command: Command, name = command.name, describe: string | false = command.describe): void {
  const p = command.positional;
  const usage = !p ? name : p.required ? `${name} <${p.name}>` : `${name} [${p.name}${p.many ? '..' : ''}]`;
  const builder = (y: Argv): Argv => {
    // yargs keeps the keys it knows (describe, default) and drops the table's own.
    if (p) y.positional(p.name, { type: 'string', ...p });
    for (const [key, { equalsOnly: _, ...options }] of Object.entries(command.options)) y.option(key, options);
    return y;
  };
  // `as string`: yargs takes false (a hidden command) in an overload of its own.
  parser.command(usage, describe as string, builder, command.run, [], name === '$0' ? undefined : command.deprecated);
}

export function buildParser(yargs: typeof YargsFactory, argv: string[], program: Program = 'limactl-autostart'): Argv {
  // A line that starts with a command and asks no help builds it alone, as yargs' default command: a named one's help text is rendered, unasked.
  const alone = program === 'limactl-autostart' && !argv.some((w) => /^(--help|-h)(=|$)/.test(w)) ? commandNamed(argv[0]) : undefined;
  const parser = yargs(alone ? argv.slice(1) : argv)
    .scriptName(program)
    // Every message of ours is in English; yargs' own (usage errors, --help's headings) too.
    .locale('en')
    // `--now.x=false` is an unknown option, not an object under --now.
    .parserConfiguration({ 'dot-notation': false })
    .version(false)
    .option('version', GLOBAL.version!)
    .middleware(async (a) => {
      if (!a.version) return;
      const { printVersion } = await import('./commands/version.js');
      await printVersion();
      throw new Answered();
    }, true);
  if (program === 'limactl-start-at-login') {
    parser.usage('$0 [INSTANCE] [--enabled[=true|false]]\n\nDeprecated: Lima\'s `limactl start-at-login`, kept for scripts that still call it.\nUse `limactl-autostart enable INSTANCE --condition=login` instead (and `limactl-autostart disable INSTANCE` for --enabled=false).\nNeither starts nor stops the instance.');
    add(parser, commandNamed('start-at-login')!, '$0', false);
  } else if (alone) {
    add(parser, alone, '$0');
  } else {
    parser.usage('$0 <command> [options]\n\nStart a Lima instance at login or at boot, and start it again when its host agent crashes or its VM dies.\nReached as `limactl autostart …` (Lima 2.0 and 2.1) or as `limactl-autostart …` directly.');
    for (const command of COMMANDS) add(parser, command);
    parser
      // The scripts (templates/completion.*) ask `limactl-autostart --get-yargs-completions WORDS…`:
      // yargs answers, through completeWords; its own script and command stay hidden.
      .completion('__complete', false, completeWords(argv))
      .demandCommand(1, 'Name a command: enable, disable, status, logs or migrate.');
  }
  return parser
    .strict()
    .help()
    .alias('h', 'help')
    .exitProcess(false)
    .fail((message, err) => {
      throw err ?? new UsageError(message, `Run \`${program} --help\` for usage.`);
    });
}

/**
 * Every word checked against the table before yargs parses, and said in one voice: an option the command does not take
 * (yargs would read `--now.x` as an object, `-n` as taking the next word), a boolean given any value but true or false
 * (yargs reads `--dry-run=yes` as false), a value not among the choices, an option given twice (yargs keeps both), a
 * mistyped command, a word after `--` (yargs sets it aside, and no command uses it), and a missing INSTANCE.
 */
function checkWords(argv: string[], program: Program): string[] {
  const end = argv.indexOf('--');
  const words = end === -1 ? argv : argv.slice(0, end);
  const hint = `Run \`${program} --help\` for usage.`;
  if (end !== -1 && end < argv.length - 1) throw new UsageError(`${quote(argv[end + 1]!, 40)} after "--" is not used by any command`, `Leave out "--" and what follows it. ${hint}`);
  const name = program === 'limactl-start-at-login' ? 'start-at-login' : words.find((w) => !w.startsWith('-'));
  const command = commandNamed(name);
  if (!command && name !== undefined) {
    const near = closest(name, COMMANDS.map((c) => c.name));
    const listed = COMMANDS.filter((c) => !c.deprecated).map((c) => c.name);
    throw new UsageError(`unknown command ${quote(name, 40)}${near ? `: did you mean ${near}?` : ''}`, `The commands are ${listed.join(', ')}. ${hint}`);
  }
  const options: Record<string, Spec> = { ...GLOBAL, ...command?.options };
  const accepted = Object.entries(options).map(([k, spec]) => `--${k}${spec.alias ? ` (-${spec.alias})` : ''}`).join(', ');
  const seen = new Map<string, string>();
  const p = command?.positional;
  let positionals = 0;
  for (let i = command && program !== 'limactl-start-at-login' ? words.indexOf(command.name) + 1 : 0; i < words.length; i++) {
    const word = words[i]!;
    const m = /^(--?)(no-)?([^=]+)(?:=(.*))?$/s.exec(word);
    if (!m || word === '-') {
      if (command && ++positionals > (p ? (p.many ? Infinity : 1) : 0)) {
        throw new UsageError(`unexpected ${quote(word, 40)}: ${command.name} takes ${p ? `one ${p.name.toUpperCase()}` : 'no other word'}`, hint);
      }
      continue;
    }
    const [, dashes, no, raw, value] = m;
    const key = dashes === '--' ? raw!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`) : Object.keys(options).find((k) => options[k]!.alias === raw);
    // Own keys only: `--constructor` is no option, whatever Object.prototype holds.
    const spec = key === undefined || !Object.hasOwn(options, key) ? undefined : options[key];
    if (!spec || (no && spec.type !== 'boolean')) {
      const near = dashes === '--' ? closest(raw!, Object.keys(options)) : undefined;
      throw new UsageError(`unknown option ${quote(word.split('=')[0]!, 40)}${near ? `: did you mean --${near}?` : ''}`, `${command ? `${command.name} takes` : 'The options are'} ${accepted}. ${hint}`);
    }
    if (key === 'help' || key === 'version') continue;
    const first = seen.get(key!);
    if (first !== undefined && dashes === '--') throw new UsageError(`--${key} is given twice (${JSON.stringify(first)} and ${JSON.stringify(word)})`, 'Give each option once.');
    seen.set(key!, word);
    if (spec.type === 'boolean' && value !== undefined && value !== 'true' && value !== 'false') {
      throw new UsageError(`--${key} takes true or false, not ${quote(value, 40)}`, hint);
    }
    // yargs takes `--now false` as --now=false, and the next word of an option with a value as its value.
    if (spec.type === 'boolean' && value === undefined && (words[i + 1] === 'true' || words[i + 1] === 'false')) i++;
    const given = value ?? (takesNextWord(spec) ? words[++i] : undefined);
    const choices = spec.choices as string[] | undefined;
    if (choices && given !== undefined && !choices.includes(given)) {
      throw new UsageError(`--${key} takes ${choices.join(' or ')}, not ${quote(given, 40)}`, `As in --${key}=${choices[0]}. ${hint}`);
    }
  }
  if (p?.required && positionals === 0 && !words.some((w) => w === '--help' || w === '-h' || w === '--version')) {
    throw new UsageError(`${command!.name} needs INSTANCE, the name of a Lima instance`, 'Run `limactl list` to see the names of your instances (those in LIMA_HOME, ~/.lima by default).');
  }
  // The words for yargs: an option whose value comes after `=` only gets, alone, an empty value, so that yargs does not take the next word.
  return argv.map((word) => (word.startsWith('--') && options[word.slice(2)]?.equalsOnly ? `${word}=` : word));
}

function takesNextWord(spec: Spec): boolean {
  return spec.type !== 'boolean' && !spec.equalsOnly;
}

/** A table name within two edits of `word`, as a typo would be. */
function closest(word: string, names: string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    let row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      const next = [i];
      for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      row = next;
    }
    return row[b.length]!;
  };
  return names.map((n) => ({ n, d: distance(word, n) })).filter((c) => c.d <= 2).sort((x, y) => x.d - y.d)[0]?.n;
}

/** --wait's value: undefined when not given (or --no-wait), the default for a bare --wait, else whole seconds. It waits for what --now starts. */
function waitSeconds(value: string | false | undefined, now: boolean): number | undefined {
  if (value === undefined || value === false) return undefined;
  if (value !== '' && !(wholeNumber(value) <= WAIT_MAX_SEC)) throw new UsageError(`--wait=${quote(value, 40)} is not a number of seconds up to ${WAIT_MAX_SEC}`, `Give whole seconds, as in --wait=120, or --wait alone for ${WAIT_TIMEOUT_SEC}.`);
  if (!now) throw new UsageError('--wait needs --now: it waits for the instance that --now starts', 'Add --now, or leave out --wait.');
  return value === '' ? WAIT_TIMEOUT_SEC : Number(value);
}

function checkLines(value: unknown): number {
  const lines = typeof value === 'string' ? wholeNumber(value) : NaN;
  if (!(lines <= LOG_LINES_MAX)) {
    throw new UsageError(`-n (--lines) takes a whole number of lines up to ${LOG_LINES_MAX}, not ${quote(Array.isArray(value) ? value.join(' ') : String(value), 40)}`, 'Give it once, as in -n 100.');
  }
  return lines;
}

/** Digits only (no sign, no exponent, no hex), as a number; NaN otherwise. */
function wholeNumber(text: string): number {
  return /^\d{1,16}$/.test(text) ? Number(text) : NaN;
}

function checkUser(user: string | undefined): string | undefined {
  if (user !== undefined && !USER_NAME.test(user)) {
    throw new UsageError(`--user ${JSON.stringify(user)} is not a valid account name`, 'Give the short name of an account, as `id -un` prints it.');
  }
  return user;
}

/**
 * The words a shell completes: yargs' own (commands, flags, --condition's values), and INSTANCE's
 * names where the command takes one (src/commands/complete.ts). `argv` is the shell's line:
 * --get-yargs-completions, the program's name, the words typed.
 */
function completeWords(argv: string[]) {
  return (current: string, parsed: { _: (string | number)[] }, defaults: (done: (err: Error | null, words: string[] | undefined) => void) => void, done: (words: string[]) => void): void => {
    const command = commandNamed(String(parsed._[1]));
    // `--condition=bo`, as the shells hand it over: the option's values, each after its `--name=`.
    const [, key, value] = /^--([\w-]+)=(.*)$/s.exec(current) ?? [];
    if (key !== undefined) {
      const spec = command?.options[key];
      const values = spec?.type === 'boolean' ? ['true', 'false'] : ((spec?.choices ?? []) as string[]);
      return done(values.filter((v) => v.startsWith(value!)).map((v) => `--${key}=${v}`));
    }
    defaults((err, found) => {
      if (err) return done([]);
      // yargs gives a command as `name:description` when $SHELL is zsh; the scripts take words only.
      const words = (found ?? []).map((w) => w.replace(/:.*/s, '')).filter((w) => w.startsWith(current));
      const p = command?.positional;
      const afterOption = Object.entries(command?.options ?? {}).some(([k, spec]) => takesNextWord(spec) && [`--${k}`, `-${spec.alias}`].includes(argv.at(-2)!));
      if (!p?.name.startsWith('instance') || afterOption || current.startsWith('-')) return done(words);
      import('./commands/complete.js')
        .then(({ instanceWords }) => instanceWords(parsed._.slice(2).map(String), current, p.many ?? false, p.registered ?? false))
        .then((names) => done([...words, ...names]), () => done(words));
    });
  };
}

function isFileError(err: unknown): err is NodeJS.ErrnoException & { syscall: string; path: string } {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string' && typeof (err as NodeJS.ErrnoException).path === 'string';
}

export async function main(argv: string[], program: Program = 'limactl-autostart'): Promise<void> {
  // A reader that leaves early (`status | head -1`) is no error of ours: end quietly. Any other
  // write error (a full disk) is said in one line, if stderr can take it; a message it cannot take is dropped.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') log.error(`cannot write to standard output: ${err.code ?? err.message}`);
    process.exit(err.code === 'EPIPE' ? (process.exitCode ?? 0) : EXIT_FAILED);
  });
  process.stderr.on('error', () => undefined);
  listenForSignals();
  const { default: yargs } = await import('yargs');
  if (argv[0] === '--get-yargs-completions') {
    // Whatever the words, nothing is printed into the shell: a half-typed line is not a usage error.
    try {
      await buildParser(yargs, argv, program).parseAsync();
    } catch {
      // nothing to offer
    }
    process.exitCode = 0;
    return;
  }
  try {
    await buildParser(yargs, checkWords(argv, program), program).wrap(Math.min(100, process.stdout.columns || 100)).parseAsync();
  } catch (err) {
    if (err instanceof Answered) return;
    process.exitCode = err instanceof Interrupted || err instanceof UserError ? err.exitCode : EXIT_FAILED;
    if (err instanceof UserError) {
      log.error(err.message, err.hint);
    } else if (isFileError(err)) {
      // A path we read that is not what it should be (a symbolic link loop, say): said, not a crash.
      log.error(`cannot ${err.syscall} ${err.path}: ${err.code}`, 'Check that path (what is there, its permissions), then run the command again.');
    } else if (!(err instanceof Interrupted)) {
      // A bug, not a user error: keep the stack so it can be reported.
      log.error(`internal error: ${err instanceof Error ? err.stack : String(err)}`, 'Please report this at the project\'s issue tracker.');
    }
  }
}
