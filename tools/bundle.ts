// The build's last step (`npm run build` empties dist/, so that nothing of an earlier build
// lingers, then runs tsc, then this): bundles src/ and the dependencies it runs into
// dist/bundle/, which bin/ loads. An ES module, as yargs and execa are: each command's module
// and what only it uses are chunks of their own, loaded by the command that runs
// (`await import()` in cli.ts), so `--version` loads neither the parser nor the templates.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import Handlebars from 'handlebars';
import { COMPILE_OPTIONS, TEMPLATE_NAMES, templatePath } from '../src/templates.js';

/** The repository root: this file runs as dist/tools/bundle.js. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUT_DIR = path.join(ROOT, 'dist', 'bundle');

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

await build({
  entryPoints: { 'limactl-autostart': path.join(ROOT, 'src', 'cli.ts') },
  outdir: OUT_DIR,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // The CommonJS dependencies (semver, handlebars, plist) require() Node's own modules, which an
  // ES module has no require() for.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  minify: process.env.MIN === '1',
  logLevel: 'warning',
  plugins: [precompiledTemplates],
});
