import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { PACKAGE_ROOT } from './version.js';

// Every value goes through the helper named for its format. Handlebars' HTML escaping is off
// (noEscape): it fits neither format. strict: a field the view lacks is a bug, not an empty string.
// ignoreStandalone: only the `~` marks decide which whitespace goes.

/** A double-quoted systemd word: C escapes for `\`, `"` and a line end (a unit's value is one line), `%%` for `%`. */
const systemdQuote = (value: string): string => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/%/g, '%%')}"`;

const helpers: Record<string, (...values: unknown[]) => string> = {
  // Element content, where quotes need no escape (the service's script stays readable). C1 controls
  // and U+2028/U+2029 as references: XML 1.1 readers (@xmldom among them) take some for line ends.
  xml: (v) => String(v).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/[\u0080-\u009f\u2028\u2029]/g, (c) => `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`),
  // A value that is not unquoted (WorkingDirectory=): only specifiers need care.
  systemdPath: (v) => String(v).replace(/%/g, '%%'),
  // ExecStart=: systemd expands $VAR in the arguments (so `$` → `$$`), not in the program path.
  systemdExec: (argv) => (argv as string[]).map((word, i) => (i === 0 ? systemdQuote(word) : systemdQuote(word).replace(/\$/g, '$$$$'))).join(' '),
  // Environment="NAME=value": one quoted word, where `$` stays literal.
  systemdEnv: (name, value) => systemdQuote(`${String(name)}=${String(value)}`),
};

/**
 * templates/NAME.hbs, which must read back as exactly the `values` that went in: anything else is a
 * bug in the template or the escaping. Handlebars is loaded only when a file is written.
 */
export async function render(name: string, view: object, values: unknown, readBack: (text: string) => unknown): Promise<string> {
  const { default: Handlebars } = await import('handlebars');
  const hb = Handlebars.create();
  for (const [helper, fn] of Object.entries(helpers)) {
    hb.registerHelper(helper, (...args: unknown[]) => {
      const given = args.slice(0, -1); // the last one is Handlebars' options
      if (given.some((v) => v === undefined || v === null)) throw new Error(`template helper ${helper} got no value`);
      return fn(...given);
    });
  }
  const text = hb.compile(readFileSync(path.join(PACKAGE_ROOT, 'templates', `${name}.hbs`), 'utf8'), { noEscape: true, strict: true, ignoreStandalone: true })(view);
  let read: unknown;
  try {
    read = readBack(text);
  } catch (err) {
    throw new Error(`rendered ${name} does not parse: ${(err as Error).message}`);
  }
  if (!isDeepStrictEqual(read, values)) throw new Error(`rendered ${name} does not read back as the values that went in:\n${JSON.stringify(read)}\n${JSON.stringify(values)}`);
  return text;
}
