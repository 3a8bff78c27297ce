import { findInstance, findLimactl, isInstanceName, readHost, type Host } from '../host.js';
import { backendFor } from '../backends/index.js';
import type { Backend, Instance, Plan, Registration } from '../model.js';
import { checkLimactl } from '../lima.js';
import { rewriteOf } from '../files/registration.js';
import { servicePath } from '../service.js';
import { UserError } from '../errors.js';
import { runPlan } from '../run-plan.js';
import * as log from '../log.js';

type Decision =
  | { kind: 'leave'; why: string }
  | { kind: 'current' }
  | { kind: 'rewrite'; plan: Plan; what: string };

/**
 * Rewrites every registration in Lima's locations with this version's templates, as `enable` would with the condition
 * and keep-alive the file records. It changes nothing it cannot read back: a file that says more than this program
 * writes, names another LIMA_HOME, or belongs to an instance that is gone is reported and left alone. Like `enable`
 * without --now, it starts and stops nothing.
 */
export async function migrate({ dryRun }: { dryRun: boolean }): Promise<void> {
  const host = readHost();
  const limactl = findLimactl(host);
  await checkLimactl(limactl);
  const backend = await backendFor(host);
  const found = backend.registrations();
  if (found.length === 0) {
    log.info('no autostart registrations in Lima\'s locations; nothing to do');
    return;
  }
  const tally = { rewrite: 0, current: 0, leave: 0, failed: 0 };
  for (const f of found) {
    if (!isInstanceName(f.instance)) {
      tally.leave++;
      // Quoted: a file name may hold control characters, never printed raw.
      log.warn(`left ${JSON.stringify(f.file)} alone: ${JSON.stringify(f.instance)} is not a Lima instance name`);
      continue;
    }
    try {
      // Decided and rewritten under the instance's lock, from the file as it is then: an
      // `enable` running meanwhile must not be overwritten with what this run read before.
      const rewritten = await runPlan(host, backend, f.instance, dryRun, async () => {
        const decision = await decide(f, found, host, backend, limactl);
        if (decision.kind === 'rewrite') {
          log.info(`${dryRun ? 'would rewrite' : 'rewriting'} ${decision.what}`);
          return decision.plan;
        }
        if (decision.kind === 'leave') log.warn(`left ${f.file} alone: ${decision.why}`);
        else log.info(`${f.file} is up to date`);
        tally[decision.kind]++;
        return { summary: 'migrate', steps: [], warnings: [], done: [] };
      });
      if (rewritten) tally.rewrite++;
    } catch (err) {
      // An interrupted run stops here: the user asked it to. One registration's failure (a
      // cancelled sudo, a lock held too long) leaves that one as it was; the others are independent of it.
      if (!(err instanceof UserError) || err.exitCode > 128) throw err;
      log.error(err.message, err.hint);
      tally.failed++;
    }
  }
  log.info(`migrate: ${dryRun ? 'would rewrite' : 'rewrote'} ${tally.rewrite}, ${tally.current} up to date, left ${tally.leave} alone${tally.failed ? `, ${tally.failed} failed` : ''}`);
  if (tally.rewrite > 0 && !dryRun) log.info(`nothing was started or stopped: ${backend.rewriteTakesEffect}`);
  if (tally.failed > 0) {
    throw new UserError(`${tally.failed} of ${found.length} registrations could not be rewritten; each was left as it was`, 'See the errors above, then run `limactl-autostart migrate` again.');
  }
}

async function decide(f: Registration, found: Registration[], host: Host, backend: Backend, limactl: string): Promise<Decision> {
  const name = f.instance;
  if (found.filter((g) => g.instance === name).length > 1) {
    return { kind: 'leave', why: `"${name}" is registered both at login and at boot. Keep one: \`limactl-autostart enable ${name} --condition=login\` (or =boot) replaces both` };
  }
  // Read here, not with the listing: that was made before this instance's lock was held.
  const file = backend.read(f);
  const rewrite = rewriteOf(file, servicePath(host.platform, limactl), host);
  const replace = `To replace it anyway: \`limactl-autostart enable ${name} --condition=${file.condition}\``;
  if (rewrite.loses.length > 0) return { kind: 'leave', why: `${rewrite.loses.join('; ')}. ${replace}` };
  if (rewrite.leave) return { kind: 'leave', why: rewrite.leave };
  if (file.unreadable !== undefined) return { kind: 'leave', why: `${file.unreadable}. ${replace}` };
  let instance: Instance | undefined;
  let plan: Plan;
  try {
    instance = findInstance(host, name);
    plan = await backend.planEnable({ instance, condition: file.condition, keepAlive: file.keepAlive, user: file.userName, now: false, limactl });
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    if (instance) return { kind: 'leave', why: err.message };
    return { kind: 'leave', why: `${err.message}. If it was deleted, \`limactl-autostart disable ${name}\` removes the registration` };
  }
  // The file's new content: an agent's write step, or a daemon's `sudo tee`.
  const written = plan.steps.map((s) => (s.kind === 'write' && s.path === f.file ? s.content : s.kind === 'run' && s.argv.at(-1) === f.file ? s.input : undefined)).find((c) => c !== undefined);
  if (written === file.text) return { kind: 'current' };
  const origin = file.header ? `written by limactl-autostart ${file.header.version}` : 'not written by limactl-autostart';
  const condition = `condition=${file.condition}${file.conditionFrom ? ` (lingering is ${f.lingering ? 'on' : 'off'} for ${host.user})` : ''}`;
  const keepAliveFrom = { header: 'from its header', settings: 'from its settings', unsaid: 'it sets neither KeepAlive nor Restart=: never restarted' }[file.keepAliveFrom];
  return { kind: 'rewrite', plan, what: `the ${f.kind} ${f.file} (${origin}): ${condition}, keep-alive=${file.keepAlive} (${keepAliveFrom})` };
}
