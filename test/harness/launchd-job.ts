import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { parse } from 'plist';

// A LaunchAgent's job run as launchd runs it, for a machine without launchd: the plist's
// ProgramArguments in launchd's environment for an agent (PATH, HOME, USER, LOGNAME, SHELL,
// TMPDIR, XPC_SERVICE_NAME=Label) overlaid with its EnvironmentVariables, in its
// WorkingDirectory, stdin /dev/null, stdout and stderr appended to StandardOutPath and
// StandardErrorPath; started at load (RunAtLoad), and started again after ThrottleInterval while
// KeepAlive says so: KeepAlive {SuccessfulExit: false} after a non-zero exit, {Crashed: true}
// after a death by a signal (launchd.plist(5)). A bootout sends SIGTERM and stops restarting.
// The throttle is the test's to choose: launchd's own is the plist's, and a test should not
// wait 30 s for a restart.

/** How one run of the job ended. */
export interface JobExit {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Job {
  Label: string;
  ProgramArguments: string[];
  EnvironmentVariables?: Record<string, string>;
  WorkingDirectory?: string;
  StandardOutPath?: string;
  StandardErrorPath?: string;
  KeepAlive?: boolean | { SuccessfulExit?: boolean; Crashed?: boolean };
}

export class LaunchdJob {
  readonly exits: JobExit[] = [];
  private child: ChildProcess | undefined;
  private bootedOut = false;
  private readonly job: Job;

  /** Loads the job from its plist and starts it (RunAtLoad). */
  constructor(plistFile: string, private readonly home: string, private readonly throttleMs = 100) {
    this.job = parse(readFileSync(plistFile, 'utf8')) as unknown as Job;
    this.start();
  }

  /** The pid of the run in progress, or undefined between runs and after a bootout. */
  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** `launchctl bootout`: SIGTERM to the job's process, no more restarts; resolves with how it ended. */
  async bootout(): Promise<JobExit> {
    this.bootedOut = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) throw new Error(`${this.job.Label} does not run`);
    const ended = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await ended;
    return this.exits.at(-1)!;
  }

  private start(): void {
    const job = this.job;
    const env = {
      PATH: '/usr/bin:/bin:/usr/sbin:/sbin',
      HOME: this.home,
      USER: process.env.USER ?? 'user',
      LOGNAME: process.env.USER ?? 'user',
      SHELL: '/bin/sh',
      TMPDIR: '/tmp/',
      XPC_SERVICE_NAME: job.Label,
      ...job.EnvironmentVariables,
    };
    const out = job.StandardOutPath ? openSync(job.StandardOutPath, 'a') : 'ignore';
    const err = job.StandardErrorPath ? openSync(job.StandardErrorPath, 'a') : 'ignore';
    const [program, ...args] = job.ProgramArguments;
    const child = spawn(program!, args, { cwd: job.WorkingDirectory ?? '/', env, stdio: ['ignore', out, err] });
    for (const fd of [out, err]) if (typeof fd === 'number') closeSync(fd);
    this.child = child;
    child.on('exit', (code, signal) => {
      this.exits.push({ pid: child.pid!, code, signal });
      if (!this.bootedOut && this.keepsAlive(code, signal)) setTimeout(() => { if (!this.bootedOut) this.start(); }, this.throttleMs);
    });
  }

  private keepsAlive(code: number | null, signal: NodeJS.Signals | null): boolean {
    const k = this.job.KeepAlive;
    if (typeof k === 'boolean' || k === undefined) return k === true;
    return (k.SuccessfulExit === false && code !== null && code !== 0) || (k.Crashed === true && signal !== null);
  }
}
