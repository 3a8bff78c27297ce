import { readHost } from '../host.js';
import { instancesInLimaHome, isInstanceName } from '../instance.js';
import { backendFor } from '../backends/index.js';

/** The commands whose INSTANCE may name an instance that is only registered (deleted from LIMA_HOME since). */
const REGISTERED_TOO = new Set(['disable', 'status', 'logs']);
/** The options whose value is the next word: no instance name goes there. */
const TAKES_VALUE = new Set(['--condition', '--user', '-n', '--lines']);
/** How many INSTANCE words each command takes (status: any number). */
const INSTANCE_WORDS: Record<string, number> = { enable: 1, disable: 1, 'start-at-login': 1, logs: 1, status: Infinity };

/**
 * The instance names to offer for the word being typed, given the words before it as yargs
 * parsed them (`_`: the program's name, the command, the instances given) and the word just
 * before it: the instances in LIMA_HOME (directories with a lima.yaml), and for disable,
 * status and logs the registered ones too. None where the command takes no (more) INSTANCE, or when the
 * names cannot be read.
 */
export async function instanceWords(words: string[], previous: string | undefined, current: string): Promise<string[]> {
  if (current.startsWith('-') || (previous !== undefined && TAKES_VALUE.has(previous))) return [];
  // yargs gives the word being typed as the last positional, when it is one.
  const [command, ...given] = words.slice(1);
  if (command === undefined || !(command in INSTANCE_WORDS)) return [];
  const before = given.at(-1) === current ? given.length - 1 : given.length;
  if (before >= INSTANCE_WORDS[command]!) return [];
  try {
    const host = readHost();
    const names = instancesInLimaHome(host);
    if (REGISTERED_TOO.has(command)) {
      const backend = await backendFor(host);
      names.push(...backend.registrations().map((r) => r.instance).filter(isInstanceName));
    }
    return [...new Set(names)].filter((n) => n.startsWith(current)).sort();
  } catch {
    return [];
  }
}
