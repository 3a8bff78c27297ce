import { instancesInLimaHome, isInstanceName, readHost } from '../host.js';
import { backendFor } from '../backends/index.js';

/**
 * The instance names to offer for the word being typed, given the instances already given (yargs
 * gives the word being typed as the last of them, when it is one): the instances in LIMA_HOME
 * (directories with a lima.yaml), and the registered ones where the command takes those too. None
 * where the command takes no more, or when the names cannot be read.
 */
export async function instanceWords(given: string[], current: string, many: boolean, registered: boolean): Promise<string[]> {
  const before = given.at(-1) === current ? given.length - 1 : given.length;
  if (!many && before >= 1) return [];
  try {
    const host = readHost();
    const names = instancesInLimaHome(host);
    if (registered) names.push(...(await backendFor(host)).registrations().map((r) => r.instance).filter(isInstanceName));
    return [...new Set(names)].filter((n) => n.startsWith(current)).sort();
  } catch {
    return [];
  }
}
