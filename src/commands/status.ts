import { hasInstance, instancesInLimaHome, isInstanceName, limactlOnPath, readHost, validateInstanceName, type Host } from '../host.js';
import { backendFor } from '../backends/index.js';
import type { StatusRow } from '../model.js';
import { listInstances, type LimaList } from '../lima.js';
import { diagnose } from '../diagnose.js';
import { reach } from '../reach.js';
import path from 'node:path';
import * as log from '../log.js';
import { UserError } from '../errors.js';

export async function status({ instances, json }: { instances: string[]; json: boolean }): Promise<void> {
  for (const name of instances) validateInstanceName(name);
  const host = readHost();
  const backend = await backendFor(host);
  // Names from file names: one that is not a Lima instance name is said (quoted), not listed.
  const registered = backend.registrations().filter((r) => {
    if (!isInstanceName(r.instance)) log.warn(`ignored ${JSON.stringify(r.file)}: ${JSON.stringify(r.instance)} is not a Lima instance name`);
    return isInstanceName(r.instance);
  }).map((r) => r.instance);
  let names = [...new Set(instances)];
  const unknown = names.filter((n) => !hasInstance(host, n) && !registered.includes(n));
  if (unknown.length > 0) {
    throw new UserError(
      `no instance ${unknown.map((n) => `"${n}"`).join(', ')} in ${host.limaHome}, and no autostart registration for ${unknown.length === 1 ? 'it' : 'them'}`,
      'Run `limactl list` to see your instances, or `limactl-autostart status` for all of them.',
    );
  }
  if (names.length === 0) names = [...new Set([...instancesInLimaHome(host), ...registered])].sort();
  // Lima and the service manager are asked at the same time: one question each, however many instances.
  const [facts, list] = await Promise.all([backend.facts(names), askLima(host)]);
  if (!list.answered) log.warn(`Lima's view of the instances is missing (${json ? 'lima.status is null' : 'the LIMA column says ?'}): ${list.reason}`);
  // An instance Lima says runs is asked whether it answers, all at once.
  const running = list.answered ? names.filter((n) => list.instances.get(n)?.status === 'Running') : [];
  const reached = new Map(await Promise.all(running.map(async (n) => [n, await reach(path.join(host.limaHome, n))] as const)));
  const rows = facts.map((f) => diagnose(host, f, list, reached.get(f.instance)));
  const color = process.stdout.isTTY === true && !host.env.NO_COLOR && host.env.TERM !== 'dumb';
  // JSON leaves C1 control characters as they are: escaped here, as JSON allows.
  process.stdout.write(json ? `${JSON.stringify(rows, null, 2).replace(/[\x7f-\x9f]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`)}\n` : formatTable(rows, color));
}

async function askLima(host: Host): Promise<LimaList> {
  const limactl = limactlOnPath(host.searchPath);
  return limactl ? listInstances(limactl) : { answered: false, reason: 'limactl was not found on PATH' };
}

const STYLE = { bold: '1', red: '31', green: '32', yellow: '33', cyan: '36', dim: '2' } as const;

function formatTable(rows: StatusRow[], color: boolean): string {
  if (rows.length === 0) return 'No Lima instances and no autostart registrations.\n';
  const paint = (style: keyof typeof STYLE, text: string): string => (color ? `\x1b[${STYLE[style]}m${text}\x1b[0m` : text);
  const cells = rows.map((r) => [
    r.instance,
    r.condition,
    r.keepAlive === null ? '-' : r.keepAlive ? 'yes' : 'no',
    stateText(r),
    // Lima's word, as another program printed it: escaped and bounded, like every line below.
    r.lima.status === null ? (r.lima.startedByService === null ? '?' : '-') : `${log.printableLine(r.lima.status.slice(0, 40))}${r.lima.reachable?.ok === false ? ', not answering' : ''}`,
    r.file ?? '-',
  ]);
  const head = ['INSTANCE', 'CONDITION', 'KEEP-ALIVE', 'STATE', 'LIMA', 'FILE'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  const out = [paint('bold', line(head))];
  rows.forEach((row, i) => {
    const text = line(cells[i]!);
    const stateStyle = row.state === 'running' ? 'green' : row.state === 'failed' || row.state === 'start-limit-hit' ? 'red' : undefined;
    out.push(stateStyle && color ? text.replace(cells[i]![3]!, paint(stateStyle, cells[i]![3]!)) : text);
    // On a terminal, a problem or a note is wrapped to its width; a fix stays one line, to be
    // pasted whole. Elsewhere each is one line, for grep.
    for (const p of row.problems) out.push(`  ${paint('yellow', 'problem:')} ${wrap(p.problem, 11)}`, `    ${paint('dim', 'fix:')} ${log.printableLine(p.fix)}`);
    for (const note of row.notes) out.push(`  ${paint('cyan', 'note:')} ${wrap(note, 8)}`);
  });
  return `${out.join('\n')}\n`;
}

/** Words from `indent` columns on, in lines as wide as the terminal, at most 100 columns. */
function wrap(text: string, indent: number): string {
  if (!process.stdout.isTTY) return log.printableLine(text);
  const width = Math.max(60, Math.min(100, process.stdout.columns)) - indent;
  const lines = [''];
  for (const word of log.printableLine(text).split(' ')) {
    if (lines.at(-1)!.length > 0 && lines.at(-1)!.length + 1 + word.length > width) lines.push(word);
    else lines[lines.length - 1] = lines.at(-1) ? `${lines.at(-1)} ${word}` : word;
  }
  return lines.join(`\n${' '.repeat(indent)}`);
}

function stateText(row: StatusRow): string {
  if (row.state === 'running' && row.pid) return `running (pid ${row.pid})`;
  // Registered and not loaded: what `enable` without --now leaves, until the next login or boot.
  if (row.state === 'not-loaded' && row.condition !== 'none') return `loads at next ${row.condition}`;
  if ((row.state === 'failed' || row.state === 'start-limit-hit') && row.lastExitCode !== null) {
    // launchd gives a job killed by a signal as the negative signal number.
    return `${row.state} (${row.lastExitCode < 0 ? `signal ${-row.lastExitCode}` : `exit ${row.lastExitCode}`})`;
  }
  return row.state;
}
