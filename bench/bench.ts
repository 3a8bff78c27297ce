// `npm run bench`: wall time and peak memory of whole limactl-autostart processes, each case
// paired with the floor (bench/floor.ts), the least a program on the same five packages costs.
// See docs/performance.md for how to read the table and the JSON file.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { BIN, binaryLimactlUnavailable, ROOT, Sandbox, type Platform } from '../test/helpers.js';

/** The most the program's time may be, as a multiple of the floor's. Reported, never enforced. */
const TARGET = 1.25;
const FLOOR = path.join(ROOT, 'dist', 'bench', 'floor.mjs');

interface Options {
  runs: number;
  warmup: number;
  rssRuns: number;
  instances: number[];
  out: string;
  compare: string | undefined;
}

const USAGE = `usage: npm run bench -- [--runs N] [--warmup N] [--rss-runs N] [--instances 20] [--out FILE] [--compare FILE]

  --runs N           timed pairs (floor, then program) of each case after the warm-up (default 20)
  --warmup N         untimed pairs of each case first (default 3)
  --rss-runs N       pairs of each case under a memory meter (default 5, at most --runs)
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

/** One command line, run by the program and by the floor alike, in the environment `env`. */
interface Case {
  id: string;
  label: string;
  args: string[];
  env: Record<string, string>;
  /** Why the case cannot run with this build; it is then reported, not timed. */
  unavailable?: string;
}

/** One side of a case: the floor's runs or the program's. */
export interface Figures {
  medianMs: number;
  minMs: number;
  maxMs: number;
  samplesMs: number[];
  /** Median of the peak resident set sizes of the memory runs, in KiB. */
  peakRssKiB: number | null;
  rssSamplesKiB: number[];
}

export interface CaseResult {
  id: string;
  label: string;
  available: boolean;
  reason?: string;
  floor?: Figures;
  program?: Figures;
  /** Median over the pairs of the program's time divided by the floor's in the same pair. */
  ratio?: number;
  ratioSamples?: number[];
  /** `ratio` is above the target. */
  over?: boolean;
}

export interface BenchResult {
  schema: 2;
  date: string;
  commit: string | null;
  machine: { cpu: string; cores: number; node: string; os: string };
  runs: number;
  warmup: number;
  rssRuns: number;
  rssMethod: string;
  /** The most `ratio` should be, in every case. */
  target: number;
  cases: CaseResult[];
}

// --- the floor ----------------------------------------------------------------------------

/**
 * Bundles bench/floor.ts into one file, with the options tools/bundle.ts gives the program, so
 * that both pay the same to load. The program's bundle is not touched.
 */
async function bundleFloor(): Promise<void> {
  await build({
    entryPoints: [path.join(ROOT, 'bench', 'floor.ts')],
    outfile: FLOOR,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
}

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

/** A pair: the floor, then the program, each given the case's words. */
function pair(c: Case): { side: 'floor' | 'program'; argv: string[]; env: Record<string, string>; label: string }[] {
  return [
    // bin/ turns on Node's compile cache where there is one (Node 22 and later), in TMPDIR: the
    // floor gets the same, or the ratio there would flatter the program. Node 20 ignores it.
    { side: 'floor', argv: [FLOOR, ...c.args], env: { ...c.env, NODE_COMPILE_CACHE: path.join(c.env.TMPDIR ?? os.tmpdir(), 'node-compile-cache') }, label: `the floor (${c.label})` },
    { side: 'program', argv: [BIN, ...c.args], env: c.env, label: `limactl-autostart ${c.args.join(' ')}` },
  ];
}

/**
 * Runs every case's pair `warmup` times, then `runs` times round-robin, then `rssRuns` times under
 * the memory meter. A slow moment of the machine touches both runs of a pair alike, so the ratio
 * is taken pair by pair. Wall time is taken without the meter: /usr/bin/time adds a process of
 * its own.
 */
function measure(cases: Case[], options: Options, meter: RssMeter): CaseResult[] {
  const live = cases.filter((c) => !c.unavailable);
  for (let i = 0; i < options.warmup; i++) {
    for (const c of live) for (const run of pair(c)) runOnce(process.execPath, run.argv, run.env, run.label);
  }
  const ms = new Map(live.map((c) => [c.id, { floor: [] as number[], program: [] as number[] }]));
  for (let i = 0; i < options.runs; i++) {
    for (const c of live) for (const run of pair(c)) ms.get(c.id)![run.side].push(runOnce(process.execPath, run.argv, run.env, run.label).ms);
  }
  const rss = new Map(live.map((c) => [c.id, { floor: [] as number[], program: [] as number[] }]));
  for (let i = 0; i < options.rssRuns; i++) {
    for (const c of live) {
      for (const run of pair(c)) {
        const w = meter.wrap(run.argv, run.env);
        const kib = meter.read(runOnce(w.file, w.args, w.env, run.label).stderr, w.env);
        if (kib !== null) rss.get(c.id)![run.side].push(kib);
      }
    }
  }
  const figures = (times: number[], kib: number[]): Figures => ({
    medianMs: round(median(times)),
    minMs: round(Math.min(...times)),
    maxMs: round(Math.max(...times)),
    samplesMs: times.map((v) => round(v, 2)),
    peakRssKiB: kib.length ? Math.round(median(kib)) : null,
    rssSamplesKiB: kib,
  });
  return cases.map((c) => {
    if (c.unavailable) return { id: c.id, label: c.label, available: false, reason: c.unavailable };
    const t = ms.get(c.id)!;
    const m = rss.get(c.id)!;
    const ratios = t.program.map((p, i) => p / t.floor[i]!);
    const ratio = round(median(ratios), 2);
    return {
      id: c.id,
      label: c.label,
      available: true,
      floor: figures(t.floor, m.floor),
      program: figures(t.program, m.program),
      ratio,
      ratioSamples: ratios.map((r) => round(r, 3)),
      over: ratio > TARGET,
    };
  });
}

// --- the cases ----------------------------------------------------------------------------

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
  return { id: 'version', label: '--version', args: ['--version'], env: sb.env(), ...(unavailable ? { unavailable } : {}) };
}

function enableCase(platform: Platform, sandboxes: Sandbox[]): Case {
  const sb = new Sandbox({ platform, instances: ['default'] });
  sandboxes.push(sb);
  const unavailable = compiledLimactl(sb);
  return {
    id: `enable-dry-run-${platform}`,
    label: `enable default --dry-run (${platform})`,
    args: ['enable', 'default', '--dry-run'],
    env: sb.env(),
    ...(unavailable ? { unavailable } : {}),
  };
}

/**
 * `count` instances, each registered with `enable --now` first, as a user would have them. The
 * limactl here is the script stand-in, which answers `list --json`; the floor asks it too.
 */
async function statusCase(platform: Platform, count: number, sandboxes: Sandbox[]): Promise<Case> {
  const label = `status --json (${platform}, ${count} instance${count === 1 ? '' : 's'})`;
  const names = Array.from({ length: count }, (_, i) => `vm${String(i + 1).padStart(3, '0')}`);
  const sb = new Sandbox({ platform, instances: names });
  sandboxes.push(sb);
  await inParallel(names, os.cpus().length, async (name) => {
    const r = await runAsync([BIN, 'enable', name, '--now'], sb.env());
    if (r.code !== 0) throw new Error(`setting up ${label}: enable ${name} --now exited with ${r.code}\n${r.stderr}`);
  });
  return { id: `status-json-${platform}-${count}`, label, args: ['status', '--json'], env: sb.env() };
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

/** The ratio as the table shows it: marked where it is above the target. */
function ratioCell(c: CaseResult): string {
  return `${c.ratio!.toFixed(2)}×${c.over ? ' over' : ''}`;
}

function table(result: BenchResult, before: BenchResult | undefined): string {
  const header = ['case', 'floor ms', 'program ms', `ratio (≤ ${result.target}×)`, 'floor RSS MiB', 'program RSS MiB'];
  if (before) header.push(`before ms (${before.commit ?? 'earlier run'})`, 'before ratio');
  const mib = (kib: number | null | undefined): string => (kib == null ? 'n/a' : (kib / 1024).toFixed(1));
  const rows = result.cases.map((c) => {
    const row = c.available
      ? [c.label, c.floor!.medianMs.toFixed(1), c.program!.medianMs.toFixed(1), ratioCell(c), mib(c.floor!.peakRssKiB), mib(c.program!.peakRssKiB)]
      : [c.label, c.reason!, '', '', '', ''];
    if (before) {
      const b = before.cases.find((x) => x.id === c.id);
      row.push(...(b?.available ? [b.program!.medianMs.toFixed(1), ratioCell(b)] : [b?.reason ?? 'not measured', '']));
    }
    return row;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n');
}

function readEarlier(file: string): BenchResult {
  const earlier = JSON.parse(readFileSync(file, 'utf8')) as { schema?: unknown };
  if (earlier.schema !== 2) usage(`${file} is not a result of this benchmark (schema ${String(earlier.schema)}, not 2): run the benchmark at that commit again to compare`);
  return earlier as BenchResult;
}

// --- main ---------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const before = options.compare ? readEarlier(options.compare) : undefined;
  const sandboxes: Sandbox[] = [];
  const scratch = new Sandbox({ instances: [] });
  sandboxes.push(scratch);
  try {
    await bundleFloor();
    const meter = rssMeter(scratch.tmp);
    process.stderr.write(`bench: ${options.runs} pairs of runs of each case after ${options.warmup} warm-up pairs; peak RSS from ${options.rssRuns} more, by ${meter.name}\n`);
    const cases: Case[] = [versionCase(sandboxes), enableCase('darwin', sandboxes), enableCase('linux', sandboxes)];
    for (const platform of ['darwin', 'linux'] as const) {
      for (const count of options.instances) cases.push(await statusCase(platform, count, sandboxes));
    }
    const result: BenchResult = {
      schema: 2,
      date: new Date().toISOString(),
      commit: gitCommit(),
      machine: machine(),
      runs: options.runs,
      warmup: options.warmup,
      rssRuns: options.rssRuns,
      rssMethod: meter.name,
      target: TARGET,
      cases: measure(cases, options, meter),
    };
    const m = result.machine;
    process.stdout.write(`limactl-autostart ${result.commit ?? ''} on ${m.cpu} (${m.cores} cores), Node ${m.node}, ${m.os}\n`);
    process.stdout.write(`medians of ${options.runs} pairs of runs (the floor, then the program); ratio: the program's time over the floor's, pair by pair, median\n\n`);
    process.stdout.write(`${table(result, before)}\n\n`);
    const over = result.cases.filter((c) => c.over);
    process.stdout.write(over.length
      ? `above ${TARGET}× the floor: ${over.map((c) => c.label).join('; ')}\n`
      : `every case measured is within ${TARGET}× the floor\n`);
    mkdirSync(path.dirname(options.out), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`written to ${path.relative(process.cwd(), options.out) || options.out}\n`);
  } finally {
    for (const sb of sandboxes) sb.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
