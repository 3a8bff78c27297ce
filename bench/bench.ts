// `npm run bench`: start-up time and peak memory of whole limactl-autostart processes, next to
// the cost of starting Node at all (`node -e 0`), measured in the same run. See
// docs/performance.md for how to read the table and the JSON file.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, binaryLimactlUnavailable, ROOT, Sandbox, type Platform } from '../test/helpers.js';

interface Options {
  runs: number;
  warmup: number;
  rssRuns: number;
  instances: number[];
  out: string;
  compare: string | undefined;
}

const USAGE = `usage: npm run bench -- [--runs N] [--warmup N] [--rss-runs N] [--instances 20] [--out FILE] [--compare FILE]

  --runs N           timed runs of each case after the warm-up (default 20)
  --warmup N         untimed runs of each case first (default 3)
  --rss-runs N       runs of each case under a memory meter (default 5, at most --runs)
  --instances LIST   instance counts for the status cases, comma-separated (default 20)
  --out FILE         where the JSON results go (default bench/results/latest.json)
  --compare FILE     an earlier JSON result: its figures are shown beside this run's`;

function parseOptions(argv: string[]): Options {
  const options: Options = { runs: 20, warmup: 3, rssRuns: 5, instances: [20], out: path.join(ROOT, 'bench', 'results', 'latest.json'), compare: undefined };
  const count = (flag: string, value: string | undefined, min: number): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) usage(`${flag} takes a whole number of at least ${min}, not ${JSON.stringify(value)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    const value = argv[++i];
    switch (flag) {
      case '--runs': options.runs = count(flag, value, 1); break;
      case '--warmup': options.warmup = count(flag, value, 0); break;
      case '--rss-runs': options.rssRuns = count(flag, value, 1); break;
      case '--instances': options.instances = (value ?? '').split(',').map((v) => count(flag, v, 1)); break;
      case '--out': options.out = path.resolve(value ?? usage('--out needs a file name')); break;
      case '--compare': options.compare = path.resolve(value ?? usage('--compare needs a file name')); break;
      default: usage(`unknown option ${JSON.stringify(flag)}`);
    }
  }
  options.rssRuns = Math.min(options.rssRuns, options.runs);
  return options;
}

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

/** One process to time: `argv` after the node executable, in the environment `env`. */
interface Case {
  id: string;
  label: string;
  argv: string[];
  env: Record<string, string>;
  /** Why the case cannot run with this build; it is then reported, not timed. */
  unavailable?: string;
  /** The most its median may be, as a multiple of `node -e 0`'s. */
  target?: number;
}

export interface CaseResult {
  id: string;
  label: string;
  available: boolean;
  reason?: string;
  medianMs?: number;
  minMs?: number;
  maxMs?: number;
  /** Median wall time divided by the median of `node -e 0` in the same run. */
  ratio?: number;
  /** The most `ratio` may be, where the case has a target. */
  target?: number;
  samplesMs?: number[];
  /** Median of the peak resident set sizes of the memory runs, in KiB. */
  peakRssKiB?: number | null;
  rssSamplesKiB?: number[];
}

export interface BenchResult {
  schema: 1;
  date: string;
  commit: string | null;
  machine: { cpu: string; cores: number; node: string; os: string };
  runs: number;
  warmup: number;
  rssMethod: string;
  cases: CaseResult[];
}

const FLOOR_ID = 'node-e-0';

// --- memory -------------------------------------------------------------------------------

/**
 * How peak RSS is measured: GNU time's `-v` ("Maximum resident set size (kbytes)") or BSD
 * time's `-l` (bytes on macOS) where /usr/bin/time has them; otherwise a preloaded script
 * that writes Node's own `process.resourceUsage().maxRSS` at exit.
 */
interface RssMeter {
  name: string;
  wrap(argv: string[], env: Record<string, string>): { file: string; args: string[]; env: Record<string, string> };
  read(stderr: string, env: Record<string, string>): number | null;
}

function rssMeter(scratch: string): RssMeter {
  const time = '/usr/bin/time';
  if (existsSync(time)) {
    const gnu = spawnSync(time, ['-v', process.execPath, '-e', '0'], { encoding: 'utf8' });
    if (gnu.status === 0 && /Maximum resident set size \(kbytes\)/.test(gnu.stderr)) {
      return {
        name: '/usr/bin/time -v (Maximum resident set size)',
        wrap: (argv, env) => ({ file: time, args: ['-v', process.execPath, ...argv], env }),
        read: (stderr) => lastNumber(stderr, /Maximum resident set size \(kbytes\): (\d+)/g),
      };
    }
    const bsd = spawnSync(time, ['-l', process.execPath, '-e', '0'], { encoding: 'utf8' });
    if (bsd.status === 0 && /maximum resident set size/.test(bsd.stderr)) {
      return {
        name: '/usr/bin/time -l (maximum resident set size)',
        wrap: (argv, env) => ({ file: time, args: ['-l', process.execPath, ...argv], env }),
        read: (stderr) => {
          const bytes = lastNumber(stderr, /(\d+)\s+maximum resident set size/g);
          return bytes === null ? null : Math.round(bytes / 1024);
        },
      };
    }
  }
  const preload = path.join(scratch, 'max-rss.cjs');
  writeFileSync(preload, "process.on('exit', () => require('node:fs').writeFileSync(process.env.BENCH_RSS_FILE, String(process.resourceUsage().maxRSS)));\n");
  const out = path.join(scratch, 'max-rss');
  return {
    name: "process.resourceUsage().maxRSS at exit (preloaded with --require; no /usr/bin/time)",
    wrap: (argv, env) => ({ file: process.execPath, args: ['--require', preload, ...argv], env: { ...env, BENCH_RSS_FILE: out } }),
    read: () => (existsSync(out) ? Number(readFileSync(out, 'utf8')) : null),
  };
}

function lastNumber(text: string, pattern: RegExp): number | null {
  const all = [...text.matchAll(pattern)];
  return all.length ? Number(all[all.length - 1]![1]) : null;
}

// --- running ------------------------------------------------------------------------------

function runOnce(file: string, args: string[], env: Record<string, string>, label: string): { ms: number; stderr: string } {
  const start = process.hrtime.bigint();
  const r = spawnSync(file, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`${label} exited with ${r.status ?? r.signal}; the bench times only runs that succeed.\n--- stderr\n${r.stderr}`);
  }
  return { ms, stderr: r.stderr };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round = (n: number, digits = 1): number => Number(n.toFixed(digits));

/**
 * Runs every case `warmup` times, then `runs` times round-robin (so a slow moment of the
 * machine touches every case alike, the floor included), then `rssRuns` times under the memory
 * meter. Wall time is taken without the meter: /usr/bin/time adds a process of its own.
 */
function measure(cases: Case[], options: Options, meter: RssMeter): CaseResult[] {
  const live = cases.filter((c) => !c.unavailable);
  for (let i = 0; i < options.warmup; i++) for (const c of live) runOnce(process.execPath, c.argv, c.env, c.label);
  const samples = new Map<string, number[]>(live.map((c) => [c.id, []]));
  for (let i = 0; i < options.runs; i++) {
    for (const c of live) samples.get(c.id)!.push(runOnce(process.execPath, c.argv, c.env, c.label).ms);
  }
  const rss = new Map<string, number[]>(live.map((c) => [c.id, []]));
  for (let i = 0; i < options.rssRuns; i++) {
    for (const c of live) {
      const w = meter.wrap(c.argv, c.env);
      const kib = meter.read(runOnce(w.file, w.args, w.env, c.label).stderr, w.env);
      if (kib !== null) rss.get(c.id)!.push(kib);
    }
  }
  const floor = median(samples.get(FLOOR_ID)!);
  return cases.map((c) => {
    if (c.unavailable) return { id: c.id, label: c.label, available: false, reason: c.unavailable, ...(c.target ? { target: c.target } : {}) };
    const ms = samples.get(c.id)!;
    const kib = rss.get(c.id)!;
    return {
      id: c.id,
      label: c.label,
      available: true,
      medianMs: round(median(ms)),
      minMs: round(Math.min(...ms)),
      maxMs: round(Math.max(...ms)),
      ratio: round(median(ms) / floor, 2),
      ...(c.target ? { target: c.target } : {}),
      samplesMs: ms.map((v) => round(v, 2)),
      peakRssKiB: kib.length ? Math.round(median(kib)) : null,
      rssSamplesKiB: kib,
    };
  });
}

// --- the cases ----------------------------------------------------------------------------

// Targets, as multiples of `node -e 0` in the same run.
const TARGETS = { version: 1.8, enable: 2.5, status: 3 };

/**
 * A sandbox whose limactl is the compiled stand-in (test/fakes/limactl-binary.c): a program, as
 * the real limactl is, asked `--version` on every run that needs it. Without a C compiler the
 * case is reported, not timed.
 */
function compiledLimactl(sb: Sandbox): string | undefined {
  const why = binaryLimactlUnavailable();
  if (why) return `not available: ${why}`;
  sb.useBinaryLimactl();
  return undefined;
}

function versionCase(sandboxes: Sandbox[]): Case {
  const sb = new Sandbox({ instances: [] });
  sandboxes.push(sb);
  const unavailable = compiledLimactl(sb);
  return { id: 'version', label: '--version', argv: [BIN, '--version'], env: sb.env(), target: TARGETS.version, ...(unavailable ? { unavailable } : {}) };
}

function enableCase(platform: Platform, condition: 'login' | 'boot', sandboxes: Sandbox[]): Case {
  const sb = new Sandbox({ platform, instances: ['default'] });
  sandboxes.push(sb);
  const unavailable = compiledLimactl(sb);
  return {
    id: `enable-dry-run-${platform}-${condition}`,
    label: `enable --dry-run (${platform}, ${condition})`,
    argv: [BIN, 'enable', 'default', ...(condition === 'boot' ? ['--condition=boot'] : []), '--dry-run'],
    env: sb.env(),
    target: TARGETS.enable,
    ...(unavailable ? { unavailable } : {}),
  };
}

/** True when this build has a `status` command; a build without one refuses it as a usage error. */
function hasStatus(): boolean {
  const sb = new Sandbox({ platform: 'linux', instances: ['default'] });
  try {
    const r = sb.run(['status', '--json']);
    return !(r.code === 2 && /unknown (argument|command)s?:.*\bstatus\b/i.test(r.stderr));
  } finally {
    sb.cleanup();
  }
}

/** `count` instances, each registered with `enable --now` first, as a user would have them. */
async function statusCase(platform: Platform, count: number, available: boolean, sandboxes: Sandbox[]): Promise<Case> {
  const id = `status-json-${platform}-${count}`;
  const label = `status --json (${platform}, ${count} instance${count === 1 ? '' : 's'})`;
  const argv = [BIN, 'status', '--json'];
  if (!available) return { id, label, argv, env: {}, target: TARGETS.status, unavailable: 'not available: no status command' };
  const names = Array.from({ length: count }, (_, i) => `vm${String(i + 1).padStart(3, '0')}`);
  const sb = new Sandbox({ platform, instances: names });
  sandboxes.push(sb);
  await inParallel(names, os.cpus().length, async (name) => {
    const r = await runAsync([BIN, 'enable', name, '--now'], sb.env());
    if (r.code !== 0) throw new Error(`setting up ${label}: enable ${name} --now exited with ${r.code}\n${r.stderr}`);
  });
  return { id, label, argv, env: sb.env(), target: TARGETS.status };
}

async function inParallel<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: Math.max(1, width) }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
  }));
}

function runAsync(argv: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

// --- reporting ----------------------------------------------------------------------------

function machine(): BenchResult['machine'] {
  let distro = '';
  try {
    distro = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    // not Linux, or no os-release: the kernel line below is enough
  }
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    os: [distro, `${os.type()} ${os.release()} ${os.arch()}`].filter(Boolean).join(', '),
  };
}

function gitCommit(): string | null {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head}+changes` : head;
  } catch {
    return null; // not a git checkout
  }
}

function table(result: BenchResult, before: BenchResult | undefined): string {
  const header = ['case', 'median ms', '× node -e 0', 'target', 'peak RSS MiB'];
  if (before) header.push(`before ms (${before.commit ?? 'earlier run'})`, 'before ×', 'before RSS MiB');
  const mib = (kib: number | null | undefined): string => (kib == null ? 'n/a' : (kib / 1024).toFixed(1));
  const rows = result.cases.map((c) => {
    const target = c.target === undefined ? '' : `≤ ${c.target}× ${!c.available ? '' : c.ratio! <= c.target ? 'met' : 'missed'}`.trimEnd();
    const row = c.available
      ? [c.label, c.medianMs!.toFixed(1), `${c.ratio!.toFixed(2)}×`, target, mib(c.peakRssKiB)]
      : [c.label, c.reason!, '', target, ''];
    if (before) {
      const b = before.cases.find((x) => x.id === c.id);
      row.push(...(b?.available ? [b.medianMs!.toFixed(1), `${b.ratio!.toFixed(2)}×`, mib(b.peakRssKiB)] : [b?.reason ?? 'not measured', '', '']));
    }
    return row;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n');
}

// --- main ---------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const before = options.compare ? (JSON.parse(readFileSync(options.compare, 'utf8')) as BenchResult) : undefined;
  const sandboxes: Sandbox[] = [];
  const scratch = new Sandbox({ instances: [] });
  sandboxes.push(scratch);
  try {
    const meter = rssMeter(scratch.tmp);
    const statusAvailable = hasStatus();
    process.stderr.write(`bench: ${options.runs} runs of each case after ${options.warmup} warm-up runs; peak RSS from ${options.rssRuns} more, by ${meter.name}\n`);
    const cases: Case[] = [
      { id: FLOOR_ID, label: 'node -e 0', argv: ['-e', '0'], env: scratch.env() },
      versionCase(sandboxes),
      { id: 'help', label: '--help', argv: [BIN, '--help'], env: scratch.env() },
      enableCase('darwin', 'boot', sandboxes),
      enableCase('linux', 'login', sandboxes),
    ];
    for (const platform of ['darwin', 'linux'] as const) {
      for (const count of options.instances) cases.push(await statusCase(platform, count, statusAvailable, sandboxes));
    }
    const result: BenchResult = {
      schema: 1,
      date: new Date().toISOString(),
      commit: gitCommit(),
      machine: machine(),
      runs: options.runs,
      warmup: options.warmup,
      rssMethod: meter.name,
      cases: measure(cases, options, meter),
    };
    const m = result.machine;
    process.stdout.write(`limactl-autostart ${result.commit ?? ''} on ${m.cpu} (${m.cores} cores), Node ${m.node}, ${m.os}\n`);
    process.stdout.write(`median of ${options.runs} runs each; × is the ratio to \`node -e 0\` in the same run\n\n`);
    process.stdout.write(`${table(result, before)}\n`);
    mkdirSync(path.dirname(options.out), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`\nwritten to ${path.relative(process.cwd(), options.out) || options.out}\n`);
  } finally {
    for (const sb of sandboxes) sb.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
