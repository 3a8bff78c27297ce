import { existsSync } from 'node:fs';
import path from 'node:path';
import { readHost } from '../host.js';
import { validateInstanceName } from '../instance.js';
import { heading, journalArgv, lastLinesOfFiles, serviceLog, tailArgv } from '../service-log.js';
import { run } from '../exec.js';
import { CommandError, UserError } from '../errors.js';
import { onInterrupt, SIGNAL_EXIT } from '../plan.js';
import * as log from '../log.js';

export interface LogsArgs {
  instance: string;
  lines: number;
  follow: boolean;
}

export async function logs(args: LogsArgs): Promise<void> {
  validateInstanceName(args.instance);
  const host = readHost();
  const source = await serviceLog(host, args.instance);
  if (!source.registered && !existsSync(path.join(host.limaHome, args.instance, 'lima.yaml'))) {
    throw new UserError(
      `no instance "${args.instance}" in ${host.limaHome}, and no autostart registration for it`,
      'Run `limactl list` to see your instances, or `limactl-autostart status` for all of them.',
    );
  }
  for (const note of source.notes) log.warn(note);
  if (!args.follow) {
    if (source.kind === 'files') process.stdout.write(lastLinesOfFiles(source.files, args.lines));
    // journalctl's output and its own errors go straight to ours.
    else await run(journalArgv(source.unit, args.lines, false), { noInput: true, passOutput: true });
    return;
  }
  let argv: string[];
  if (source.kind === 'files') {
    for (const file of source.files.filter((f) => !existsSync(f))) log.info(`${file} does not exist yet: it is followed once it appears`);
    // tail puts headings over several files only: one file gets the same heading from here.
    if (source.files.length === 1) process.stdout.write(`${heading(source.files[0]!)}\n`);
    argv = tailArgv(source.files, args.lines);
  } else {
    argv = journalArgv(source.unit, args.lines, true);
  }
  await follow(argv);
}

/**
 * Runs the follower until it is interrupted: SIGINT, SIGTERM or SIGHUP ends it (a Ctrl-C on a
 * terminal reaches it directly too) and the run with 128 + the signal's number.
 */
async function follow(argv: string[]): Promise<void> {
  const interrupt = new AbortController();
  let caught: NodeJS.Signals | undefined;
  const stopListening = onInterrupt((signal) => {
    caught ??= signal;
    interrupt.abort();
  });
  try {
    const result = await run(argv, { noInput: true, passOutput: true, cancelSignal: interrupt.signal, mayFail: 'ended by a signal when interrupted' });
    // A Ctrl-C may end the follower before our own handler has run.
    const signal = caught ?? (result.signal !== undefined && result.signal in SIGNAL_EXIT ? result.signal : undefined);
    if (signal) process.exitCode = SIGNAL_EXIT[signal];
    else if (result.exitCode !== 0) throw new CommandError(argv, result.exitCode, result.stderr);
  } finally {
    stopListening();
  }
}
