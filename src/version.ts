import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Where templates/ and package.json are: two levels up from dist/src/version.js (or from the bundle in dist/bundle/). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

let cached: string | undefined;

export function packageVersion(): string {
  return (cached ??= (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version);
}

/** A file of the documentation, which the package ships: messages name it where it is installed. */
export function docs(file: string): string {
  return path.join(PACKAGE_ROOT, 'docs', file);
}
