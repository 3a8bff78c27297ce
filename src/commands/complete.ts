import { instancesInLimaHome, isInstanceName, readHost } from '../host.js';
import { backendFor } from '../backends/index.js';

/**
 * The instance names to offer for the word being typed (yargs gives it as the last of `given`, when it is one): those in
 * LIMA_HOME, and the registered ones where the command takes those too. None where the command takes no more, or on error.
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
