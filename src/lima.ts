import { run } from './exec.js';
import { LIMA_LIST_TIMEOUT_MS } from './tunables.js';

/** What Lima says of one instance (`limactl list --json`); only the fields this program uses. */
export interface LimaInstance {
  name: string;
  /** Lima's word: Running, Stopped, Broken, … */
  status: string;
  hostAgentPID: number | null;
  /** The launchd label or systemd unit that started the instance, when one did (Lima 2.1 and later). */
  autoStartedIdentifier: string | null;
}

export type LimaList =
  | { answered: true; instances: Map<string, LimaInstance> }
  | { answered: false; reason: string };

/**
 * Asks Lima about every instance at once (or about `names`; `interrupt` ends the question): one call, however many there are. Lima
 * prints one JSON object per line. A limactl that fails, hangs or prints something else is not
 * an error: the caller goes on without Lima's view and says why.
 */
export async function listInstances(limactl: string, names: string[] = [], interrupt?: AbortSignal): Promise<LimaList> {
  const answer = await run([limactl, 'list', '--json', ...names], { mayFail: 'status works without Lima\'s view', noInput: true, timeoutMs: LIMA_LIST_TIMEOUT_MS, cancelSignal: interrupt });
  if (answer.timedOut) return { answered: false, reason: `\`limactl list --json\` did not answer within ${LIMA_LIST_TIMEOUT_MS / 1000} s` };
  if (answer.exitCode !== 0) {
    const status = answer.exitCode === undefined ? 'could not be run' : `exited with code ${answer.exitCode}`;
    const why = answer.stderr.trim().split('\n')[0];
    return { answered: false, reason: `\`limactl list --json\` ${status}${why ? `: ${why}` : ''}` };
  }
  const instances = new Map<string, LimaInstance>();
  for (const line of answer.stdout.split('\n')) {
    if (line.trim() === '') continue;
    const instance = readInstance(line);
    if (!instance) return { answered: false, reason: `\`limactl list --json\` printed a line that is not an instance: ${JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line)}` };
    instances.set(instance.name, instance);
  }
  return { answered: true, instances };
}

function readInstance(line: string): LimaInstance | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { name, status, hostAgentPID, autoStartedIdentifier } = value as Record<string, unknown>;
  if (typeof name !== 'string' || typeof status !== 'string') return undefined;
  return {
    name,
    status,
    // Lima leaves both out when they have no value (omitempty).
    hostAgentPID: typeof hostAgentPID === 'number' && hostAgentPID > 0 ? hostAgentPID : null,
    autoStartedIdentifier: typeof autoStartedIdentifier === 'string' && autoStartedIdentifier !== '' ? autoStartedIdentifier : null,
  };
}
