import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The package root: dist/src/version.js → two levels up; templates/ and package.json live there. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

let cached: string | undefined;

export function packageVersion(): string {
  cached ??= (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  return cached;
}

/** A file of the documentation, which the package ships: messages name it where it is installed. */
export function docs(file: string): string {
  return path.join(PACKAGE_ROOT, 'docs', file);
}
