// The build's last step (`npm run build` empties dist/, so that nothing of an earlier build
// lingers, then runs tsc, then this): bundles src/ and the dependencies it runs into
// dist/bundle/, which bin/ loads, so that an installed package needs nothing from node_modules.
// Each command's module is a chunk of its own, loaded by the command that runs (`await import()`
// in cli.ts). The templates stay files in templates/, read when a command renders one.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The repository root: this file runs as dist/tools/bundle.js. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

await build({
  entryPoints: { 'limactl-autostart': path.join(ROOT, 'src', 'cli.ts') },
  outdir: path.join(ROOT, 'dist', 'bundle'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // The CommonJS dependencies (semver, handlebars, plist) require() Node's own modules, which an
  // ES module has no require() for.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: 'warning',
});
