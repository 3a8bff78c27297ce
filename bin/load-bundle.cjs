'use strict';
// Loads the program (dist/bundle/limactl-autostart.cjs) as require() would, but with V8's code
// cache: compiling the bundle is the largest part of a run after Node's own start, and the
// cache of a run holds the bytecode of every function that run compiled, so the next run of the
// same command compiles almost nothing (docs/performance.md). Node 22 does this itself
// (module.enableCompileCache()); Node 20 does not.
//
// One cache file per command (`enable`, `status`, `--version`, …), in
// $XDG_CACHE_HOME/limactl-autostart/v8/, named for the Node version, the architecture and the
// bundle's size and modification time. V8 checks the rest and rejects a cache that does not
// fit (another V8, other flags, another source): the bundle is then compiled as usual, and the
// cache written again when the run exits. A cache that cannot be read or written changes
// nothing but the time.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { createRequire, wrap } = require('node:module');

const BUNDLE = path.join(__dirname, '..', 'dist', 'bundle', 'limactl-autostart.cjs');

function cacheDir() {
  const { XDG_CACHE_HOME, HOME } = process.env;
  if (XDG_CACHE_HOME && path.isAbsolute(XDG_CACHE_HOME)) return path.join(XDG_CACHE_HOME, 'limactl-autostart', 'v8');
  if (HOME && path.isAbsolute(HOME)) return path.join(HOME, '.cache', 'limactl-autostart', 'v8');
  return undefined;
}

/** Writes the cache of this run, replacing the caches of other builds of the bundle. */
function save(dir, name, prefix, script) {
  const temporary = path.join(dir, `${name}.${process.pid}.tmp`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(temporary, script.createCachedData());
    fs.renameSync(temporary, path.join(dir, name));
    for (const other of fs.readdirSync(dir)) {
      if (!other.startsWith(prefix) && other.endsWith('.bin')) fs.rmSync(path.join(dir, other), { force: true });
    }
  } catch {
    fs.rmSync(temporary, { force: true });
  }
}

/** The bundle's exports; `argv` names the command, whose own cache is used. */
function loadBundle(argv) {
  const source = fs.readFileSync(BUNDLE, 'utf8');
  const dir = cacheDir();
  const command = /^-{0,2}[a-z][a-z-]*$/.test(argv[0] ?? '') ? argv[0] : 'other';
  const stat = fs.statSync(BUNDLE);
  const prefix = `${process.version}-${process.arch}-${stat.size}-${Math.trunc(stat.mtimeMs)}-`;
  const name = `${prefix}${command}.bin`;
  let cachedData;
  if (dir) {
    try {
      cachedData = fs.readFileSync(path.join(dir, name));
    } catch {
      // not written yet
    }
  }
  // A script compiled here cannot import() (not without an experimental flag): main() is given
  // the one import it needs, yargs, by loadYargs below.
  const script = new vm.Script(wrap(source), { filename: BUNDLE, cachedData });
  if (dir && (cachedData === undefined || script.cachedDataRejected)) process.once('exit', () => save(dir, name, prefix, script));
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, createRequire(BUNDLE), module, BUNDLE, path.dirname(BUNDLE));
  return module.exports;
}

/** yargs, an ES module, imported from here: the same node_modules as the bundle's own. */
const loadYargs = () => import('yargs');

/** Runs the program on `argv`. */
function run(argv) {
  loadBundle(argv).main(argv, loadYargs);
}

module.exports = { run };
