import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Sandbox, show, type RunResult, type SandboxOptions } from './helpers.js';

export type MakeSandbox = (options: SandboxOptions) => Sandbox;

/**
 * Sandboxes for the tests of one describe, each removed after its test. Call it inside the
 * describe: a top-level afterEach would be a root hook for every test file.
 */
export function sandboxPool(): MakeSandbox {
  let made: Sandbox[] = [];
  afterEach(() => {
    for (const sb of made) sb.cleanup();
    made = [];
  });
  return (options) => {
    const sb = new Sandbox(options);
    made.push(sb);
    return sb;
  };
}

/** A run that must succeed. */
export function ok(result: RunResult): RunResult {
  assert.equal(result.code, 0, show(result));
  return result;
}

/**
 * What `enable ARGS` writes to `file` on a clean machine (a fresh sandbox of the same platform,
 * with instances default and k3s), with that sandbox's root replaced by sb's.
 */
export function freshlyEnabled(make: MakeSandbox, sb: Sandbox, args: string[], file: (fresh: Sandbox) => string, env: Record<string, string> = {}): string {
  const fresh = make({ platform: sb.platform, instances: ['default', 'k3s'] });
  ok(fresh.run(['enable', ...args], env));
  return readFileSync(file(fresh), 'utf8').replaceAll(fresh.root, sb.root);
}
