import assert from 'node:assert/strict';
import yargs from 'yargs';
import { buildParser } from '../src/cli.js';
import { runWithoutYargs } from '../src/fast-path.js';

// A command line that runWithoutYargs() takes must reach the handler with exactly the
// argument object yargs would pass; any other command line must be left to yargs, having run
// nothing. Both parsers run here in-process on the same definitions, with handlers that only
// record what they get.

type Factory = typeof yargs;
type Build = (y: Factory, argv: string[]) => unknown;
type Outcome = { ran: true; args: Record<string, unknown> } | { ran: false; error?: string };

/**
 * Wraps a yargs-like factory so that every `.command()` handler records its argument instead
 * of running the command.
 */
function recording(factory: Factory, seen: Array<Record<string, unknown>>): Factory {
  const wrap = (target: object): object => {
    const proxy: object = new Proxy(target, {
      get(t, prop) {
        const value = Reflect.get(t, prop) as unknown;
        if (typeof value !== 'function' || prop === 'then') return value;
        return (...args: unknown[]) => {
          if (prop === 'command' && typeof args[3] === 'function') {
            args[3] = (a: Record<string, unknown>) => { seen.push({ ...a }); };
          }
          if (prop === 'command' && typeof args[2] === 'function') {
            const builder = args[2] as (y: object) => unknown;
            args[2] = (y: object) => builder(wrap(y));
          }
          const result = (value as (...a: unknown[]) => unknown).apply(t, args);
          return result === t ? proxy : result;
        };
      },
    });
    return proxy;
  };
  return ((argv: string[]) => wrap(factory(argv) as object)) as unknown as Factory;
}

async function withYargs(build: Build, argv: string[]): Promise<Outcome> {
  const seen: Array<Record<string, unknown>> = [];
  try {
    await (build(recording(yargs, seen), argv) as { parseAsync(): Promise<unknown> }).parseAsync();
  } catch (err) {
    return { ran: false, error: err instanceof Error ? err.message : String(err) };
  }
  return seen.length === 1 ? { ran: true, args: seen[0]! } : { ran: false };
}

async function withoutYargs(build: Build, argv: string[]): Promise<Outcome> {
  const seen: Array<Record<string, unknown>> = [];
  const ran = await runWithoutYargs((y, a) => build(recording(y, seen), a), argv);
  assert.equal(seen.length, ran ? 1 : 0, `runWithoutYargs returned ${ran} but the handler ran ${seen.length} times`);
  return ran ? { ran: true, args: seen[0]! } : { ran: false };
}

/** Runs both and checks the rule; returns whether the command line was taken without yargs. */
async function compare(build: Build, argv: string[]): Promise<boolean> {
  const fast = await withoutYargs(build, argv);
  if (!fast.ran) return false;
  const slow = await withYargs(build, argv);
  assert.ok(slow.ran, `taken without yargs, but yargs refuses ${JSON.stringify(argv)}: ${!slow.ran && slow.error}`);
  assert.deepEqual(fast.args, slow.args, JSON.stringify(argv));
  return true;
}

// Command lines that must be taken without yargs, and what yargs makes of them.
const PLAIN = [
  ['enable', 'default'],
  ['enable', 'default', '--dry-run'],
  ['enable', 'default', '--condition=boot', '--dry-run'],
  ['enable', 'default', '--condition', 'boot', '--now'],
  ['enable', '--condition', 'boot', 'default'],
  ['enable', 'default', '--keep-alive=false', '--condition=login'],
  ['enable', 'default', '--no-keep-alive'],
  ['enable', 'default', '--keep-alive', '--now=true', '--dry-run=false'],
  ['enable', 'web.1', '--user', 'svc-lima', '--condition=boot'],
  ['enable', 'default', '--user=alice'],
  ['enable', 'default', '--user=-x'],
  ['enable', '1.50'],
  ['enable', '0x10'],
  ['enable', '007'],
  ['enable', '1e3', '--user', '123'],
  ['disable', 'default'],
  ['disable', 'default', '--now', '--dry-run'],
  ['disable', 'gone', '--no-now'],
];

// Command lines left to yargs: help, version, errors, and forms yargs reads in its own way.
const LEFT_TO_YARGS = [
  [],
  ['--help'],
  ['-h'],
  ['--version'],
  ['enable', '--help'],
  ['enable', 'default', '-h'],
  ['enable', 'default', '--version'],
  ['enable'],
  ['enable', 'a', 'b'],
  ['enable', 'default', '--condition=sometimes'],
  ['enable', 'default', '--condition'],
  ['enable', 'default', '--condition='],
  ['enable', 'default', '--condition=boot', '--condition=login'],
  ['enable', 'default', '--now', 'false'],
  ['enable', 'default', '--now', 'true'],
  ['enable', 'default', '--user'],
  ['enable', 'default', '--user', '--now'],
  ['enable', 'default', '--user='],
  ['enable', 'default', '--keepAlive=false'],
  ['enable', 'default', '--keep_alive'],
  ['enable', 'default', '--no-condition'],
  ['enable', 'default', '--unknown'],
  ['enable', 'default', '-n'],
  ['enable', '--', 'default'],
  ['enable', '-'],
  ['enable', 'default', '--now=yes'],
  ['start', 'default'],
  ['Enable', 'default'],
  ['__proto__'],
];

describe('command lines run without yargs', () => {
  const build = buildParser as Build;

  for (const argv of PLAIN) {
    it(`takes ${JSON.stringify(argv)} and passes what yargs passes`, async () => {
      assert.ok(await compare(build, argv), `left to yargs: ${JSON.stringify(argv)}`);
    });
  }

  it('leaves help, version, errors and unusual forms to yargs, running nothing', async () => {
    for (const argv of LEFT_TO_YARGS) {
      assert.equal((await withoutYargs(build, argv)).ran, false, JSON.stringify(argv));
    }
  });

  // Definitions of the kinds other commands use: optional and variadic positionals with
  // defaults, a boolean option defaulting to true, choices, a required option.
  const other: Build = (y, argv) => y(argv)
    .scriptName('limactl-autostart')
    .command('status [instances..]', 'show', (c) => c
      .positional('instances', { type: 'string', describe: 'names' })
      .option('json', { type: 'boolean', default: false }), () => undefined)
    .command('start-at-login [instance]', 'old', (c) => c
      .positional('instance', { type: 'string', default: 'default' })
      .option('enabled', { type: 'boolean', default: true }), () => undefined)
    .command('pick <what>', 'choose', (c) => c
      .positional('what', { type: 'string', choices: ['a', 'b'] })
      .option('level', { type: 'string', demandOption: true })
      .option('mode', { choices: ['x', 'y'] }), () => undefined)
    .demandCommand(1)
    .strict()
    .help()
    .exitProcess(false)
    .fail((msg, err) => { throw err ?? new Error(msg); });

  for (const argv of [
    ['status'], ['status', '--json'], ['status', 'a', 'b', '--json=false'], ['status', '--json', 'a'],
    ['start-at-login'], ['start-at-login', 'vm'], ['start-at-login', '--enabled=false'], ['start-at-login', 'vm', '--no-enabled'],
    ['pick', 'a', '--level', 'high'], ['pick', 'b', '--level=1', '--mode', 'y'],
  ]) {
    it(`other definitions: takes ${JSON.stringify(argv)} as yargs does`, async () => {
      assert.ok(await compare(other, argv), `left to yargs: ${JSON.stringify(argv)}`);
    });
  }

  it('other definitions: leaves invalid or unusual lines to yargs', async () => {
    for (const argv of [['pick', 'c', '--level', 'x'], ['pick', 'a'], ['pick', 'a', '--level', 'x', '--mode', 'z'], ['start-at-login', 'a', 'b'], ['status', '-j']]) {
      assert.equal((await withoutYargs(other, argv)).ran, false, JSON.stringify(argv));
    }
  });

  it('leaves every command line to yargs when a definition uses a feature it does not read', async () => {
    const withCheck: Build = (y, argv) => y(argv)
      .command('enable <instance>', 'x', (c) => c.positional('instance', { type: 'string' }).check(() => true), () => undefined)
      .command('disable <instance>', 'x', (c) => c.positional('instance', { type: 'string' }), () => undefined)
      .middleware(() => undefined);
    assert.equal((await withoutYargs(withCheck, ['enable', 'a'])).ran, false);
    assert.equal((await withoutYargs(withCheck, ['disable', 'a'])).ran, false);
    const withCoerce: Build = (y, argv) => y(argv)
      .command('enable <instance>', 'x', (c) => c.positional('instance', { type: 'string' }).option('user', { type: 'string', coerce: (u: string) => u.trim() }), () => undefined);
    assert.equal((await withoutYargs(withCoerce, ['enable', 'a'])).ran, false);
    const untyped: Build = (y, argv) => y(argv)
      .command('enable <instance>', 'x', (c) => c.positional('instance', { describe: 'a number to yargs, if it looks like one' }), () => undefined);
    assert.equal((await withoutYargs(untyped, ['enable', '10'])).ran, false);
  });
});
