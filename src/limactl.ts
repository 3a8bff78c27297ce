import { readFileSync } from 'node:fs';
import path from 'node:path';
import { clean, gte, gtr, ltr, parse, valid, validRange } from 'semver';
import { run } from './exec.js';
import { PACKAGE_ROOT } from './version.js';
import { LIMACTL_VERSION_TIMEOUT_MS } from './tunables.js';
import * as log from './log.js';

/** From this Lima version on, `limactl autostart` is Lima's built-in command, which wins over a plugin. */
export const BUILTIN_AUTOSTART_SINCE = '2.2.0';

/** What `limactl --version` answered. */
export type LimaVersion =
  | { kind: 'version'; version: string }
  | { kind: 'unreadable'; output: string }
  | { kind: 'no-answer'; reason: string };

export interface Advice {
  level: 'warning' | 'info';
  message: string;
}

/** The range of Lima versions in plugin.yaml (`limactl: ">=2.0.0 <3.0.0"`): one source for Lima and for us. */
export function supportedRange(): string {
  const pluginYaml = path.join(PACKAGE_ROOT, 'plugin.yaml');
  const range = /^limactl:\s*["']?([^"'\n#]+?)["']?\s*(?:#.*)?$/m.exec(readFileSync(pluginYaml, 'utf8'))?.[1];
  if (!range || !validRange(range)) throw new Error(`${pluginYaml} has no valid \`limactl:\` version range`);
  return range;
}

/**
 * Asks `limactl --version` with a short timeout: a limactl that hangs (a stale network
 * mount, a wrapper waiting for input) must not hang this program.
 */
export async function limactlVersion(limactl: string): Promise<LimaVersion> {
  const answer = await run([limactl, '--version'], { mayFail: 'an unreadable version is a warning, not an error', noInput: true, timeoutMs: LIMACTL_VERSION_TIMEOUT_MS });
  if (answer.timedOut) return { kind: 'no-answer', reason: `it did not answer within ${LIMACTL_VERSION_TIMEOUT_MS / 1000} s` };
  if (answer.exitCode !== 0) {
    const status = answer.exitCode === undefined ? 'it could not be run' : `it exited with code ${answer.exitCode}`;
    return { kind: 'no-answer', reason: answer.stderr.trim() ? `${status}: ${answer.stderr.trim().split('\n')[0]}` : status };
  }
  const word = /^limactl version (\S+)\s*$/m.exec(answer.stdout)?.[1];
  const version = word === undefined ? null : valid(clean(word));
  return version ? { kind: 'version', version } : { kind: 'unreadable', output: answer.stdout.trim() };
}

/**
 * What the user should know about this Lima. A pre-release counts as the release it leads to
 * (2.2.0-beta.1 as 2.2.0): Lima's betas already have the release's commands.
 */
export function adviceFor(answer: LimaVersion, range: string, limactl: string): Advice[] {
  if (answer.kind === 'no-answer') {
    return [{ level: 'warning', message: `could not learn Lima's version: \`${limactl} --version\`: ${answer.reason}; going on without it` }];
  }
  if (answer.kind === 'unreadable') {
    const shown = answer.output.length > 80 ? `${answer.output.slice(0, 80)}…` : answer.output;
    return [{ level: 'warning', message: `could not read Lima's version from \`${limactl} --version\`, which printed ${JSON.stringify(shown)}; limactl-autostart is made for Lima ${range}; going on` }];
  }
  const parsed = parse(answer.version)!;
  const release = `${parsed.major}.${parsed.minor}.${parsed.patch}`;
  const advice: Advice[] = [];
  if (ltr(release, range)) {
    advice.push({ level: 'warning', message: `Lima ${answer.version} is older than this plugin needs (${range}): \`limactl autostart\` will not find it, because Lima runs plugins from 2.0 on. Run \`limactl-autostart …\` directly, or upgrade Lima.` });
  } else if (gtr(release, range)) {
    advice.push({ level: 'warning', message: `Lima ${answer.version} is newer than the versions limactl-autostart is made for (${range}); going on` });
  }
  if (gte(release, BUILTIN_AUTOSTART_SINCE)) {
    advice.push({ level: 'info', message: `on Lima ${answer.version}, \`limactl autostart\` runs Lima's built-in command, not this plugin; call this plugin as \`limactl-autostart …\`` });
  }
  return advice;
}

/**
 * Asks limactl its version and says on stderr what the user should know; never fails. Asked on
 * every run: a limactl can answer differently without its path changing (an upgrade, a version
 * manager's shim that picks the version at run time).
 */
export async function checkLimactl(limactl: string): Promise<LimaVersion> {
  const answer = await limactlVersion(limactl);
  say(adviceFor(answer, supportedRange(), limactl));
  return answer;
}

function say(advice: Advice[]): void {
  for (const { level, message } of advice) {
    if (level === 'warning') log.warn(message);
    else log.info(message);
  }
}
