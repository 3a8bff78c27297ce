import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers.js';

// Imports point down (commands -> backends -> render, plan, readers -> model): no module of src/
// imports, even for a type, one that imports it back, however long the way round. The graph is
// read from the import and export statements of the TypeScript sources themselves.

const SRC = path.join(ROOT, 'src');

/** Every relative module specifier of a source: static, type-only, re-exports and import(). */
function importsOf(source: string): string[] {
  const statements = /(?:^|[;\n])\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
  return [...source.matchAll(statements)].map((m) => (m[1] ?? m[2])!).filter((s) => s.startsWith('.'));
}

/** The first cycle found in a graph of module -> modules it imports, as a path that ends where it starts. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const done = new Set<string>();
  const visit = (node: string, trail: string[]): string[] | undefined => {
    const at = trail.indexOf(node);
    if (at >= 0) return [...trail.slice(at), node];
    if (done.has(node)) return undefined;
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next, [...trail, node]);
      if (cycle) return cycle;
    }
    done.add(node);
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node, []);
    if (cycle) return cycle;
  }
  return undefined;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const file = path.join(dir, e.name);
    return e.isDirectory() ? sources(file) : e.name.endsWith('.ts') ? [file] : [];
  });
}

/** src/ as a graph: each file (relative to src/) and the files of src/ it imports. */
function srcGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const imported = importsOf(readFileSync(file, 'utf8')).map((spec) => path.relative(SRC, path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'))));
    graph.set(path.relative(SRC, file), imported);
  }
  return graph;
}

describe('the import graph of src/', () => {
  it('has no cycle, type-only imports included', () => {
    assert.deepEqual(findCycle(srcGraph()), undefined);
  });

  it('every import names a file of src/', () => {
    const graph = srcGraph();
    const missing = [...graph].flatMap(([file, imported]) => imported.filter((i) => !graph.has(i)).map((i) => `${file} -> ${i}`));
    assert.deepEqual(missing, []);
  });

  it('model.ts, the types every layer shares, imports nothing of the program\'s', () => {
    assert.deepEqual(srcGraph().get('model.ts'), []);
  });

  // Negative controls: the reading and the search find what they must.
  it('reads every form of import: named, type-only, default, namespace, side effect, re-export, import()', () => {
    const source = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "import c, { type D } from './c.js'",
      "import * as e from './e.js';",
      "import './f.js';",
      "export { g } from './g.js';",
      "export type { H } from './h.js';",
      "export * from './i.js';",
      'const { J } = await import(\'./j.js\');',
      "import {\n  k,\n  type L,\n} from './k.js';",
      "import yargs from 'yargs';",
      "import { readFileSync } from 'node:fs';",
    ].join('\n');
    assert.deepEqual(importsOf(source), ['./a.js', '../b.js', './c.js', './e.js', './f.js', './g.js', './h.js', './i.js', './j.js', './k.js']);
  });

  it('finds a cycle of one, of two and of three modules, and none in a tree', () => {
    assert.deepEqual(findCycle(new Map([['a', ['a']]])), ['a', 'a']);
    assert.deepEqual(findCycle(new Map([['a', ['b']], ['b', ['a']]])), ['a', 'b', 'a']);
    assert.deepEqual(findCycle(new Map([['x', ['a']], ['a', ['b']], ['b', ['c']], ['c', ['a']]])), ['a', 'b', 'c', 'a']);
    assert.equal(findCycle(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), undefined);
  });
});
