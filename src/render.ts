import type Handlebars from 'handlebars';
import { createEnvironment, loadTemplate, type Environment, type TemplateName } from './templates.js';

export type { TemplateName } from './templates.js';

// Every value is escaped by the helper named for its format. Handlebars' own HTML escaping is
// off (noEscape) because it is right for neither format: it would turn "=" into "&#x3D;" in a
// plist and put HTML entities into a systemd unit.

export function escapeXml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;')
    // C1 controls and the Unicode line and paragraph separators: XML 1.0 takes them as they are,
    // but XML 1.1 readers (and @xmldom) turn U+0085, U+2028 and U+2029 into line ends. As
    // character references every reader gives the character back.
    .replace(/[\u0080-\u009f\u2028\u2029]/g, (c) => `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`);
}

/** A systemd value that is not unquoted by systemd (WorkingDirectory=): only specifiers need care. */
export function systemdPath(value: string): string {
  return value.replace(/%/g, '%%');
}

/** A double-quoted systemd word: C escapes for `\` and `"`, and `%%` for a literal `%`. */
export function systemdQuote(value: string): string {
  return `"${systemdPath(value.replace(/\\/g, '\\\\').replace(/"/g, '\\"'))}"`;
}

/**
 * An argument of an Exec* line after the command: systemd also expands $VAR and ${VAR} there,
 * so a literal `$` is written `$$`. The command path itself is not expanded (systemd execs it
 * as written), so it goes through systemdQuote alone.
 */
export function systemdExecArg(value: string): string {
  return systemdQuote(value).replace(/\$/g, '$$$$');
}

// Created on first render: status reads files and renders none, and loads no Handlebars.
let hb: Environment | undefined;

function environment(): Environment {
  if (hb) return hb;
  const env = createEnvironment();
  const helpers: Record<string, (value: unknown) => string> = {
    xml: (v) => escapeXml(String(v)),
    systemdPath: (v) => systemdPath(String(v)),
    systemdQuote: (v) => systemdQuote(String(v)),
    systemdExecArg: (v) => systemdExecArg(String(v)),
  };
  for (const [name, fn] of Object.entries(helpers)) {
    env.registerHelper(name, (value: unknown) => {
      if (value === undefined || value === null) throw new Error(`template helper ${name} got no value`);
      return fn(value);
    });
  }

  // ExecStart=: the program path is not expanded by systemd, its arguments are (so `$` → `$$`).
  env.registerHelper('systemdExec', (argv: unknown) => {
    if (!Array.isArray(argv) || argv.length === 0) throw new Error('template helper systemdExec needs an argument vector');
    const [command, ...args] = argv.map(String);
    return [systemdQuote(command!), ...args.map(systemdExecArg)].join(' ');
  });

  // Environment="NAME=value": the whole assignment is one quoted word; `$` stays literal there.
  env.registerHelper('systemdEnv', (name: unknown, value: unknown) => {
    if (typeof name !== 'string' || typeof value !== 'string') throw new Error('template helper systemdEnv needs a name and a value');
    return systemdQuote(`${name}=${value}`);
  });
  hb = env;
  return env;
}

const compiled = new Map<TemplateName, Handlebars.TemplateDelegate>();

export function render(name: TemplateName, view: object): string {
  let template = compiled.get(name);
  if (!template) {
    template = loadTemplate(environment(), name);
    compiled.set(name, template);
  }
  return template(view);
}
