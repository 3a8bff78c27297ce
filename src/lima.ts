import { readFileSync } from 'node:fs';
import path from 'node:path';
import { clean, coerce, gte, gtr, ltr, validRange } from 'semver';
import { run, type RunResult } from './exec.js';
import { PACKAGE_ROOT } from './version.js';
import { QUESTION_TIMEOUT_MS } from './tunables.js';
import { quote } from './errors.js';
import { readRegularFile } from './files/fs.js';
import * as log from './log.js';

// What Lima says: `limactl list --json` and `limactl --version`. A limactl that fails, hangs or
// prints something else is never an error: the caller goes on without its answer and says why.

/**
 * The instance's socket_vmnet network (`networks: - lima: shared`, bridged, host: any but user-v2),
 * which needs Lima's sudoers file to start without a terminal, as at boot. A `lima:` entry is enough.
 */
export function vmnetNetwork(limaHome: string, name: string): string | undefined {
  try {
    const yaml = readRegularFile(path.join(limaHome, name, 'lima.yaml')).toString('utf8');
    return [...yaml.matchAll(/^\s*-\s*lima:\s*["']?([\w.-]+)/gm)].map((m) => m[1]!).find((n) => n !== 'user-v2');
  } catch {
    return undefined;
  }
}

/** From this Lima version on, `limactl autostart` is Lima's built-in command, which wins over a plugin. */
const BUILTIN_AUTOSTART_SINCE = '2.2.0';

export interface LimaInstance {
  name: string;
  status: string;
  hostAgentPID: number | null;
  /** The launchd label or unit that started it (Lima 2.1 and later). */
  autoStartedIdentifier: string | null;
}

export type LimaList = { answered: true; instances: Map<string, LimaInstance> } | { answered: false; reason: string };

/** One question about every instance (or about `names`); Lima prints one JSON object per line. */
export async function listInstances(limactl: string, names: string[] = []): Promise<LimaList> {
  const answer = await run([limactl, 'list', '--json', ...names], { mayFail: 'status works without Lima\'s view', noInput: true, timeoutMs: QUESTION_TIMEOUT_MS });
  if (answer.exitCode !== 0) return { answered: false, reason: `\`limactl list --json\` ${failure(answer)}` };
  const instances = new Map<string, LimaInstance>();
  for (const line of answer.stdout.split('\n')) {
    if (line.trim() === '') continue;
    const instance = readInstance(line);
    if (!instance) return { answered: false, reason: `\`limactl list --json\` printed a line that is not an instance: ${quote(line, 80)}` };
    instances.set(instance.name, instance);
  }
  return { answered: true, instances };
}

function failure({ exitCode, stderr, timedOut }: RunResult): string {
  if (timedOut) return `did not answer within ${QUESTION_TIMEOUT_MS / 1000} s`;
  const why = stderr.trim().split('\n')[0]?.slice(0, 200);
  return `${exitCode === undefined ? 'could not be run' : `exited with code ${exitCode}`}${why ? `: ${why}` : ''}`;
}

function readInstance(line: string): LimaInstance | undefined {
  let fields: Record<string, unknown>;
  try {
    fields = JSON.parse(line) ?? {};
  } catch {
    return undefined;
  }
  const { name, status, hostAgentPID, autoStartedIdentifier } = fields;
  if (typeof name !== 'string' || typeof status !== 'string') return undefined;
  return {
    name,
    status,
    // Lima leaves both out when they have no value (omitempty).
    hostAgentPID: typeof hostAgentPID === 'number' && hostAgentPID > 0 ? hostAgentPID : null,
    autoStartedIdentifier: typeof autoStartedIdentifier === 'string' && autoStartedIdentifier !== '' ? autoStartedIdentifier : null,
  };
}

/** The range in plugin.yaml (`limactl: ">=2.0.0 <3.0.0"`): one source for Lima and for us. */
function supportedRange(): string {
  const pluginYaml = path.join(PACKAGE_ROOT, 'plugin.yaml');
  const range = /^limactl:\s*["']?([^"'\n#]+?)["']?\s*(?:#.*)?$/m.exec(readFileSync(pluginYaml, 'utf8'))?.[1];
  if (!range || !validRange(range)) throw new Error(`${pluginYaml} has no valid \`limactl:\` version range`);
  return range;
}

/**
 * Asked on every run: an upgrade or a version manager's shim changes it. A pre-release counts as
 * the release it leads to: Lima's betas already have its commands. Undefined when it cannot be told.
 */
export async function checkLimactl(limactl: string): Promise<string | undefined> {
  const answer = await run([limactl, '--version'], { mayFail: 'an unreadable version is a warning, not an error', noInput: true, timeoutMs: QUESTION_TIMEOUT_MS });
  const range = supportedRange();
  if (answer.exitCode !== 0) {
    log.warn(`could not learn Lima's version: \`${limactl} --version\`: it ${failure(answer)}; going on without it`);
    return undefined;
  }
  const version = clean(/^limactl version (\S+)\s*$/m.exec(answer.stdout)?.[1] ?? '');
  if (!version) {
    log.warn(`could not read Lima's version from \`${limactl} --version\`, which printed ${quote(answer.stdout.trim(), 80)}; limactl-autostart is made for Lima ${range}; going on`);
    return undefined;
  }
  const release = coerce(version)!.version;
  if (ltr(release, range)) {
    log.warn(`Lima ${version} is older than this plugin needs (${range}): \`limactl autostart\` will not find it, because Lima runs plugins from 2.0 on. Run \`limactl-autostart …\` directly, or upgrade Lima.`);
  } else if (gtr(release, range)) {
    log.warn(`Lima ${version} is newer than the versions limactl-autostart is made for (${range}); going on`);
  }
  if (gte(release, BUILTIN_AUTOSTART_SINCE)) {
    log.info(`on Lima ${version}, \`limactl autostart\` runs Lima's built-in command, not this plugin; call this plugin as \`limactl-autostart …\``);
  }
  return version;
}
