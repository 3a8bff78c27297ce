import type { InstanceStatus, LimaView, Problem, StatusRow } from './model.js';
import type { LimaList } from './lima.js';
import { logHint, reEnable } from './problems.js';
import { formatArgv } from './errors.js';

/**
 * Joins what Lima says of each instance to what the service manager says of its job, and adds
 * the problems only the two views together show: a job that runs while the instance is down, an
 * instance that runs outside its registration (no keep-alive), and a registration launchd has
 * not loaded. A failed job is the backend's problem already, with its exit code and its fix.
 */
export function withLimaView(rows: StatusRow[], list: LimaList): InstanceStatus[] {
  return rows.map((row) => {
    const lima = viewOf(row, list);
    return { ...row, problems: [...row.problems, ...joinedProblems(row, lima)], lima };
  });
}

function viewOf(row: StatusRow, list: LimaList): LimaView {
  if (!list.answered) return { status: null, hostAgentPID: null, startedByService: null };
  const instance = list.instances.get(row.instance);
  if (!instance) return { status: null, hostAgentPID: null, startedByService: false };
  return {
    status: instance.status,
    hostAgentPID: instance.hostAgentPID,
    startedByService: instance.autoStartedIdentifier !== null && instance.autoStartedIdentifier === serviceIdentifier(row),
  };
}

/** What Lima records as autoStartedIdentifier: the launchd label (the target without its domain) or the unit name. */
function serviceIdentifier(row: StatusRow): string {
  return row.service.slice(row.service.lastIndexOf('/') + 1);
}

function joinedProblems(row: StatusRow, lima: LimaView): Problem[] {
  const name = row.instance;
  const manager = row.manager;
  const problems: Problem[] = [];
  const jobRuns = row.state === 'running' || row.state === 'restarting';
  const down = lima.status === 'Stopped' || lima.status === 'Broken';
  if (row.condition === 'none') return problems;
  const startNow = reEnable(name, row.condition, row.keepAlive, true);
  const logs = logHint(name);
  if (jobRuns && down) {
    problems.push({
      problem: `${manager} runs ${row.service}, but Lima says the instance is ${lima.status}: the host agent may be stuck, or a stale ha.sock or ha.pid left by an unclean shutdown keeps it from starting; ${logs}`,
      fix: `${formatArgv(['limactl', 'stop', '--force', name])}; ${restart(row)}`,
    });
  }
  // A registered job launchd has not loaded: a LaunchDaemon not in the system domain, or an agent
  // not in gui/<uid> while that domain exists (someone is logged in at the GUI). Nothing restarts
  // the instance until it is loaded. launchd loads it at the next boot or login, unless the
  // "Allow in the Background" switch (macOS 13 and later) keeps it from running at all. An
  // instance running outside its agent says more than that its agent is not loaded.
  const notLoaded = manager === 'launchd' && row.state === 'not-loaded';
  const runsOutside = lima.status === 'Running' && lima.startedByService === false && !jobRuns;
  if (notLoaded && row.condition === 'boot') {
    problems.push({ problem: notLoadedText(row), fix: lima.status === 'Running' ? `${formatArgv(['limactl', 'stop', name])} && ${startNow}` : startNow });
  } else if (runsOutside) {
    problems.push({
      problem: `Lima says the instance is Running, but it was not started by ${row.service}: keep-alive does not apply until it is stopped and started through ${manager}`,
      fix: `${formatArgv(['limactl', 'stop', name])} && ${startNow}`,
    });
  } else if (notLoaded && row.service.startsWith('gui/')) {
    problems.push({ problem: notLoadedText(row), fix: startNow });
  }
  return problems;
}

/** A registered launchd job that is not loaded, and the likely cause when a boot or login did not load it. */
function notLoadedText(row: StatusRow): string {
  const when = row.condition === 'boot' ? 'boot' : 'login';
  return `registered for ${when}, but ${row.service} is not loaded in launchd's ${when === 'boot' ? 'system' : 'GUI login'} domain: launchd loads it at the next ${when}; until then nothing restarts the instance. If it was not loaded at the last ${when} either, the "Allow in the Background" switch for limactl (System Settings › General › Login Items) is likely off: check with \`sfltool dumpbtm\` (docs/troubleshooting.md: "macOS: the job is registered but never runs")`;
}

/** Restarts the job: a running job is stopped and started again. */
function restart(row: StatusRow): string {
  if (row.manager === 'systemd') return `systemctl --user restart ${row.service}`;
  return `${row.service.startsWith('system/') ? 'sudo ' : ''}launchctl kickstart -k ${row.service}`;
}
