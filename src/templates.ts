import { readFileSync } from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import { PACKAGE_ROOT } from './version.js';

// How a template file in templates/ becomes a function. This module compiles the file when it
// is first rendered. The bundle that bin/ runs replaces it with a module holding the same files
// precompiled at build time (tools/bundle.ts), so it loads only Handlebars' runtime, not its
// compiler; both build from TEMPLATE_NAMES and COMPILE_OPTIONS below.

export const TEMPLATE_NAMES = [
  'io.lima-vm.autostart.INSTANCE.plist',
  'io.lima-vm.daemon.INSTANCE.plist',
  'lima-vm@INSTANCE.service',
] as const;

export type TemplateName = (typeof TEMPLATE_NAMES)[number];

// noEscape: every value is escaped by the helper named for its format (see render.ts).
// strict: a view model that lacks a field the template uses is a bug, not an empty string.
// ignoreStandalone: only the `~` marks decide which whitespace goes, so a block on a line of
// its own (`{{~#if keepAlive}}`) leaves no blank line whether it renders or not.
export const COMPILE_OPTIONS = { noEscape: true, strict: true, ignoreStandalone: true } as const;

export type Environment = typeof Handlebars;

export function createEnvironment(): Environment {
  return Handlebars.create();
}

export function templatePath(name: TemplateName): string {
  return path.join(PACKAGE_ROOT, 'templates', `${name}.hbs`);
}

export function loadTemplate(env: Environment, name: TemplateName): Handlebars.TemplateDelegate {
  return env.compile(readFileSync(templatePath(name), 'utf8'), COMPILE_OPTIONS);
}
