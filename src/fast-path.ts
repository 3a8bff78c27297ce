import type YargsFactory from 'yargs';

// Loading yargs costs more than starting Node itself, and most command lines are plain:
// `enable NAME --condition=boot`, `status --json`. This module runs such a command line
// without yargs, from the same definitions: buildParser() in cli.ts is handed a stand-in for
// yargs that records its `.command()` calls, and a command line that is plain for those
// definitions goes straight to the command's handler, with the same argument object yargs
// would pass. Anything else returns false and cli.ts hands it to yargs: --help, --version,
// usage errors, short flags, `--`, and definitions that use yargs features not listed below
// (a command defined so goes to yargs every time, so such a feature is never misread).
// test/fast-path.test.ts holds both parsers to the same result.

type Factory = typeof YargsFactory;
type Handler = (args: Record<string, unknown>) => unknown;
type Values = Record<string, unknown>;

interface Param {
  name: string;
  type: 'string' | 'boolean' | undefined;
  choices: readonly unknown[] | undefined;
  hasDefault: boolean;
  default: unknown;
  required: boolean;
  variadic: boolean;
}

interface Command {
  name: string;
  positionals: Param[];
  options: Map<string, Param>;
  handler: Handler;
  /** False when the definition uses something this module does not understand. */
  plain: boolean;
}

// Methods that change what --help shows or how errors are reported, never what a plain
// command line parses to. (`alias` only adds names; a name not defined as an option is never
// accepted here.)
const PRESENTATION = new Set(['scriptName', 'usage', 'demandCommand', 'strict', 'version', 'help', 'alias', 'wrap', 'exitProcess', 'fail', 'example', 'epilog', 'epilogue']);
const OPTION_KEYS = new Set(['type', 'choices', 'default', 'describe', 'description', 'desc', 'demandOption', 'hidden', 'group']);

/** A chainable object on which every method call is passed to `onCall`. */
function recorder(onCall: (method: string, args: unknown[]) => void): unknown {
  const self: unknown = new Proxy({}, {
    // Not a thenable: `await` on it must not call then().
    get: (_target, prop) => (prop === 'then' ? undefined : (...args: unknown[]) => { onCall(String(prop), args); return self; }),
  });
  return self;
}

function parseCommandString(cmd: string): { name: string; positionals: Param[] } | undefined {
  const [name, ...rest] = cmd.trim().split(/\s+/);
  if (!name || !/^[a-z][a-z0-9-]*$/.test(name)) return undefined;
  const positionals: Param[] = [];
  for (const word of rest) {
    const m = /^(<|\[)([a-zA-Z][a-zA-Z0-9-]*)(\.\.)?(>|\])$/.exec(word);
    if (!m || (m[1] === '<') !== (m[4] === '>') || positionals.some((p) => p.variadic)) return undefined;
    positionals.push({ name: m[2]!, type: undefined, choices: undefined, hasDefault: false, default: undefined, required: m[1] === '<', variadic: m[3] === '..' });
  }
  return { name, positionals };
}

/** Reads a `.positional()` or `.option()` definition; false if it uses anything else. */
function applySpec(param: Param, spec: unknown, positional: boolean): boolean {
  if (typeof spec !== 'object' || spec === null) return false;
  const s = spec as Record<string, unknown>;
  if (!Object.keys(s).every((k) => OPTION_KEYS.has(k))) return false;
  if (s.type !== undefined && s.type !== 'string' && s.type !== 'boolean') return false;
  // yargs reads an untyped positional as a number when it looks like one.
  if (positional && s.type !== 'string') return false;
  if (!positional && s.type === undefined && !Array.isArray(s.choices)) return false;
  if (s.choices !== undefined && (!Array.isArray(s.choices) || !s.choices.every((c) => typeof c === 'string'))) return false;
  param.type = s.type as Param['type'];
  param.choices = s.choices as readonly unknown[] | undefined;
  if ('default' in s) {
    param.hasDefault = true;
    param.default = s.default;
  }
  if (s.demandOption) param.required = true;
  return true;
}

function defineCommand(args: unknown[]): Command | undefined {
  const [cmd, , builder, handler] = args;
  if (typeof cmd !== 'string' || typeof builder !== 'function' || typeof handler !== 'function' || args.length !== 4) return undefined;
  const parsed = parseCommandString(cmd);
  if (!parsed) return undefined;
  const command: Command = { ...parsed, options: new Map(), handler: handler as Handler, plain: true };
  builder(recorder((method, margs) => {
    const [name, spec] = margs;
    if (method === 'positional' && typeof name === 'string') {
      const param = command.positionals.find((p) => p.name === name);
      command.plain &&= param !== undefined && applySpec(param, spec, true);
    } else if ((method === 'option' || method === 'options') && typeof name === 'string' && !command.options.has(name)) {
      const param: Param = { name, type: undefined, choices: undefined, hasDefault: false, default: undefined, required: false, variadic: false };
      command.options.set(name, param);
      command.plain &&= !/^no-/.test(name) && applySpec(param, spec, false);
    } else if (!PRESENTATION.has(method)) {
      command.plain = false;
    }
  }));
  // A positional yargs would parse as a number: only `type: 'string'` ones are read here.
  command.plain &&= command.positionals.every((p) => p.type === 'string');
  return command;
}

const camelCase = (name: string): string => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function set(values: Values, name: string, value: unknown): void {
  values[name] = value;
  if (name.includes('-')) values[camelCase(name)] = value;
}

/** The argument object yargs would pass to the handler, or undefined if the line is not plain. */
function parseArgs(command: Command, rest: string[], scriptName: string): Values | undefined {
  const given = new Map<string, unknown>();
  const words: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (!arg.startsWith('-')) {
      words.push(arg);
      continue;
    }
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (!m) return undefined; // `--`, `-x`, `-`, `--camelCase`
    let [, name, value] = m as unknown as [string, string, string | undefined];
    let option = command.options.get(name);
    if (!option && name.startsWith('no-') && value === undefined) {
      option = command.options.get(name.slice(3));
      if (option?.type !== 'boolean') return undefined;
      value = 'false';
    }
    if (!option || given.has(option.name)) return undefined;
    if (option.type === 'boolean') {
      // yargs takes `--flag false` as the flag's value, not as a positional.
      if (value === undefined && (rest[i + 1] === 'true' || rest[i + 1] === 'false')) return undefined;
      if (value !== undefined && value !== 'true' && value !== 'false') return undefined;
      given.set(option.name, value !== 'false');
      continue;
    }
    if (value === undefined) {
      value = rest[++i];
      if (value === undefined || value.startsWith('-')) return undefined;
    }
    if (value === '' || (option.choices && !option.choices.includes(value))) return undefined;
    given.set(option.name, value);
  }

  const values: Values = { _: [command.name], $0: scriptName };
  for (const option of command.options.values()) {
    if (given.has(option.name)) set(values, option.name, given.get(option.name));
    else if (option.required) return undefined;
    else if (option.hasDefault) set(values, option.name, option.default);
  }
  for (const p of command.positionals) {
    if (p.variadic) {
      set(values, p.name, words.splice(0));
      if (p.required && (values[p.name] as string[]).length === 0) return undefined;
    } else if (words.length > 0) {
      const word = words.shift()!;
      if (p.choices && !p.choices.includes(word)) return undefined;
      set(values, p.name, word);
    } else if (p.required) {
      return undefined;
    } else if (p.hasDefault) {
      set(values, p.name, p.default);
    }
  }
  return words.length === 0 ? values : undefined;
}

/**
 * Runs `argv` without yargs if it is a plain command line for the commands that `build`
 * defines; returns false, having run nothing, if it is not.
 */
export async function runWithoutYargs(build: (yargs: Factory, argv: string[]) => unknown, argv: string[]): Promise<boolean> {
  const commands = new Map<string, Command | undefined>();
  let scriptName = '';
  let plain = true;
  build(((() => recorder((method, args) => {
    if (method === 'command') {
      const command = defineCommand(args);
      if (command) commands.set(command.name, command);
      else if (typeof args[0] === 'string') commands.set(args[0].trim().split(/\s+/)[0]!, undefined);
      else plain = false;
    } else if (method === 'scriptName') {
      scriptName = String(args[0]);
    } else if (!PRESENTATION.has(method)) {
      plain = false;
    }
  })) as unknown) as Factory, argv);
  const command = argv[0] === undefined ? undefined : commands.get(argv[0]);
  if (!plain || !command?.plain) return false;
  const values = parseArgs(command, argv.slice(1), scriptName);
  if (!values) return false;
  await command.handler(values);
  return true;
}
