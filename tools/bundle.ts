// The build's second step (after tsc): bundles src/ into dist/bundle/limactl-autostart.cjs, the
// file that bin/limactl-autostart loads, and each dependency it runs into a file of its own
// under dist/bundle/vendor/, loaded only by a command that uses it. See docs/performance.md for
// why, and for what was measured.
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Plugin } from 'esbuild';
import Handlebars from 'handlebars';
import { COMPILE_OPTIONS, TEMPLATE_NAMES, templatePath } from '../src/templates.js';

/** The repository root: this file runs as dist/tools/bundle.js. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUT_DIR = path.join(ROOT, 'dist', 'bundle');

/**
 * The dependencies, each bundled into vendor/NAME.cjs with only what the program imports from
 * it. A file is read and compiled only when the first module that imports it runs, so
 * `--version` or a dry run on Linux never parses the plist reader. A dependency with `lazy`
 * is loaded later still: on the first call of one of those functions, the only names the
 * program may import from it.
 */
const VENDOR: Record<string, { file: string; source: string; lazy?: string[] }> = {
  // Only the reader: plist's index also loads its writer (xmlbuilder), which the program never
  // uses. src/plist-read.ts reads the program's own plists without it, and calls it only for a
  // plist it does not know how to read, so it is loaded only then.
  plist: { file: 'plist.cjs', source: `export { parse } from ${JSON.stringify(path.join(path.dirname(fileURLToPath(import.meta.resolve('plist'))), 'parse.js'))};`, lazy: ['parse'] },
  'handlebars/runtime': { file: 'handlebars-runtime.cjs', source: "module.exports = require('handlebars/runtime');", lazy: ['create'] },
  // To tell a file written by another version (which the same version never is), and to
  // compare limactl's version with plugin.yaml's range.
  semver: {
    file: 'semver.cjs',
    source: [
      ...['clean', 'compare', 'gte', 'parse', 'valid'].map((f) => `export { default as ${f} } from 'semver/functions/${f}.js';`),
      ...[['gtr', 'gtr'], ['ltr', 'ltr'], ['validRange', 'valid']].map(([name, file]) => `export { default as ${name} } from 'semver/ranges/${file}.js';`),
    ].join('\n'),
    lazy: ['clean', 'compare', 'gte', 'parse', 'valid', 'gtr', 'ltr', 'validRange'],
  },
};

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
};

/**
 * An import of a vendored dependency, static or dynamic, becomes a require() of its file,
 * relative to the bundle, run when the importing code first needs it. (An external dynamic
 * import() would stay an import() and start Node's ES module loader.)
 */
const vendored: Plugin = {
  name: 'vendored',
  setup(b) {
    const names = Object.keys(VENDOR).map((n) => n.replace(/[/]/g, '\\/'));
    b.onResolve({ filter: new RegExp(`^(${names.join('|')})$`) }, (args) => ({ path: args.path, namespace: 'vendored' }));
    b.onLoad({ filter: /.*/, namespace: 'vendored' }, (args) => {
      const { file, lazy } = VENDOR[args.path]!;
      const request = JSON.stringify(`./vendor/${file}`);
      if (!lazy) return { loader: 'js', contents: `module.exports = require(${request});` };
      // An ES module of functions only: importing any other name fails the build.
      return {
        loader: 'js',
        contents: [
          'let loaded;',
          `const load = () => (loaded ??= require(${request}));`,
          ...lazy.map((name) => `export function ${name}(...args) { return load().${name}(...args); }`),
          '',
        ].join('\n'),
      };
    });
    b.onResolve({ filter: /^\.\/vendor\// }, (args) => ({ path: args.path, external: true }));
  },
};

/**
 * Node modules that cost a noticeable part of Node's start-up to load and that most runs never
 * use: node:child_process serves only to run a command, and node:crypto and node:fs/promises
 * only to apply a plan or name a staging copy. In the bundle, each function they export is a
 * stand-in that loads the module on its first call. Importing anything else from them (a
 * constant, say) fails the build, so nothing is silently wrong.
 */
const LAZY_BUILTINS = ['node:child_process', 'node:crypto', 'node:fs/promises'];

const lazyBuiltins: Plugin = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${LAZY_BUILTINS.join('|').replace(/[/]/g, '\\/')})$`) }, (args) => (
      args.namespace === 'lazy-builtin' ? { path: args.path, external: true } : { path: args.path, namespace: 'lazy-builtin' }
    ));
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, async (args) => {
      const real = (await import(args.path)) as Record<string, unknown>;
      const functions = Object.keys(real).filter((name) => name !== 'default' && typeof real[name] === 'function');
      return {
        loader: 'js',
        contents: [
          'let loaded;',
          `const load = () => (loaded ??= require(${JSON.stringify(args.path)}));`,
          // `new` passes through, for the classes among them.
          ...functions.map((name) => `export function ${name}(...args) { return new.target ? new (load().${name})(...args) : load().${name}(...args); }`),
          '',
        ].join('\n'),
      };
    });
  },
};

/**
 * The plist reader's XML parser (@xmldom/xmldom) builds and freezes a table of the 2,231 HTML
 * entities when it loads: about half of what loading the reader costs. Plists are XML, which
 * has five entities of its own, and the table is read only for HTML documents; here it is built
 * on first read instead. The build fails if the file no longer has the expected shape.
 */
const lazyHtmlEntities: Plugin = {
  name: 'lazy-html-entities',
  setup(b) {
    b.onLoad({ filter: /[\\/]@xmldom[\\/]xmldom[\\/]lib[\\/]entities\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const start = 'exports.HTML_ENTITIES = freeze({';
      const alias = 'exports.entityMap = exports.HTML_ENTITIES;';
      const from = source.indexOf(start);
      const end = source.indexOf('\n});\n', from);
      if (from < 0 || end < 0 || source.indexOf(start, from + 1) >= 0 || source.split(alias).length !== 2) {
        throw new Error(`${args.path} no longer has the shape lazyHtmlEntities expects; update tools/bundle.ts`);
      }
      const table = source.slice(from + start.length - 1, end + 2);
      const contents = source.slice(0, from)
        + `let htmlEntities;\nObject.defineProperty(exports, 'HTML_ENTITIES', { enumerable: true, get: () => (htmlEntities ??= freeze(${table})) });`
        + source.slice(end + 4).replace(alias, "Object.defineProperty(exports, 'entityMap', { enumerable: true, get: () => exports.HTML_ENTITIES });");
      return { contents, loader: 'js' };
    });
  },
};

/**
 * src/templates.ts compiles each template file when it is first rendered; in the bundle it is
 * replaced by the same files precompiled here, with the same options, rendered by Handlebars'
 * runtime alone.
 */
const precompiledTemplates: Plugin = {
  name: 'precompiled-templates',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]templates\.ts$/ }, () => {
      const specs = TEMPLATE_NAMES.map((name) => `  ${JSON.stringify(name)}: ${Handlebars.precompile(readFileSync(templatePath(name), 'utf8'), COMPILE_OPTIONS)},`);
      return {
        loader: 'js',
        resolveDir: path.join(ROOT, 'src'),
        contents: [
          "import { create } from 'handlebars/runtime';",
          `export const TEMPLATE_NAMES = ${JSON.stringify(TEMPLATE_NAMES)};`,
          `export const COMPILE_OPTIONS = ${JSON.stringify(COMPILE_OPTIONS)};`,
          'const specs = {',
          ...specs,
          '};',
          'export function createEnvironment() { return create(); }',
          'export function loadTemplate(env, name) { return env.template(specs[name]); }',
          '',
        ].join('\n'),
      };
    });
  },
};

// Nothing from an earlier build may linger: every file here is loaded or published.
rmSync(OUT_DIR, { recursive: true, force: true });

await Promise.all([
  build({
    ...common,
    entryPoints: [path.join(ROOT, 'src', 'cli.ts')],
    outfile: path.join(OUT_DIR, 'limactl-autostart.cjs'),
    // yargs is loaded from node_modules, and only when a command line needs it (see cli.ts).
    external: ['yargs'],
    // version.ts finds package.json from its own location; in the bundle that is the bundle's.
    define: { 'import.meta.url': '__bundleUrl' },
    banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
    plugins: [vendored, lazyBuiltins, precompiledTemplates],
  }),
  ...Object.values(VENDOR).map(({ file, source }) => build({
    ...common,
    stdin: { contents: source, resolveDir: ROOT, loader: 'js' },
    outfile: path.join(OUT_DIR, 'vendor', file),
    plugins: [lazyHtmlEntities],
  })),
]);
