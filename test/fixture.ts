import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, type Sandbox } from './helpers.js';

/** Registration files as older Lima versions wrote them (see test/fixtures/README.md). */
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');

/** A fixture's text with its user's home (alice's or lima's, macOS or Linux) replaced by the sandbox's. */
export function fixtureText(sb: Sandbox, name: string): string {
  return readFileSync(path.join(FIXTURES, name), 'utf8').replace(/\/(Users|home)\/(alice|lima)(?=\/|<|\n|$)/g, sb.home);
}

/** Puts a fixture where Lima put it, mode 0644 as Lima wrote it; returns the text written. */
export function placeFixture(sb: Sandbox, name: string, file: string, edit: (text: string) => string = (t) => t): string {
  const text = edit(fixtureText(sb, name));
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text, { mode: 0o644 });
  return text;
}

/** Every file of a sandbox with its root replaced, so that two sandboxes can be compared. */
export function normalizedSnapshot(sb: Sandbox): Record<string, string> {
  return Object.fromEntries(Object.entries(sb.snapshot()).map(([file, text]) => [file.replaceAll(sb.root, '/ROOT'), text.replaceAll(sb.root, '/ROOT')]));
}

/** The recorded calls with the sandbox root replaced. */
export function normalizedCalls(sb: Sandbox): string[][] {
  return sb.calls().map((call) => call.map((arg) => arg.replaceAll(sb.root, '/ROOT')));
}
