import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, parse } from 'plist';
import { parsePlist, readPlist } from '../src/plist-read.js';
import { needTool, ROOT, Sandbox, show } from './helpers.js';

// src/plist-read.ts must give exactly what `plist`'s parse gives for everything it reads, and
// read nothing it is not sure of. These tests run both on the same texts: the golden files and
// what the program renders with hostile paths, hand-written plists with hostile strings, a seeded
// random corpus written by `plist`'s build and by libplist, and malformed plists.

/** Reads `text` with both; the fast reader must accept it and agree. */
function agree(text: string, what: string): unknown {
  const fast = readPlist(text);
  assert.ok(fast, `the fast reader left alone ${what}:\n${text}`);
  assert.deepStrictEqual(fast.value, parse(text), `${what}:\n${text}`);
  return fast.value;
}

const doc = (body: string): string => `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n${body}\n</plist>\n`;

// Strings XML can hold, with everything the escaping must get right.
const HOSTILE = [
  '', ' ', '  lead', 'trail  ', '&', '<', '>', '"', "'", '&amp;', '&lt;x&gt;', ']]>', '<![CDATA[x]]>', '<!-- c -->',
  '<?pi?>', '%h %% $HOME ${X} `x`', 'tab\there', 'line\nbreak', 'cr\rlf\r\n', '\\', 'é ü ß', '日本語', '🦙 emoji 👩‍👩‍👧',
  '\u00a0\u3000', '\uFEFF', '\uFFFD', 'a&b<c>d"e\'f', '__proto__x', 'constructor', '0', '-1', 'true',
];

/** mulberry32: the same corpus on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generate(rnd: () => number, depth: number): unknown {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  const str = (): string => (rnd() < 0.4 ? pick(HOSTILE) : Array.from({ length: Math.floor(rnd() * 12) }, () => pick([...'aZ9 &<>"\'é🦙\t\n-_./%$'])).join(''));
  const kind = depth >= 4 ? Math.floor(rnd() * 7) + 2 : Math.floor(rnd() * 9);
  switch (kind) {
    case 0: {
      const dict: Record<string, unknown> = {};
      for (let n = Math.floor(rnd() * 5); n > 0; n--) dict[str()] = generate(rnd, depth + 1);
      return dict;
    }
    case 1:
      return Array.from({ length: Math.floor(rnd() * 5) }, () => generate(rnd, depth + 1));
    case 2:
    case 3:
      return str();
    case 4:
      return Math.floor((rnd() - 0.5) * 2 * 10 ** Math.floor(rnd() * 15));
    case 5:
      return (rnd() - 0.5) * 10 ** Math.floor(rnd() * 20 - 10) + 0.5;
    case 6:
      return rnd() < 0.5;
    case 7:
      return new Date(Math.floor(rnd() * 4e9) * 1000);
    default:
      return Uint8Array.from({ length: Math.floor(rnd() * 70) }, () => Math.floor(rnd() * 256));
  }
}

/** A random plist, always with a dict at the top, as launchd's are. */
function corpus(seed: number, count: number): { value: Record<string, unknown>; text: string }[] {
  const rnd = random(seed);
  return Array.from({ length: count }, () => {
    const value: Record<string, unknown> = { Label: `io.lima-vm.autostart.${count}`, value: generate(rnd, 0) };
    return { value, text: build(value as Parameters<typeof build>[0]) };
  });
}

describe('plist-read: the fast plist reader against the plist package', () => {
  it('reads the golden plists as plist does', () => {
    const dir = path.join(ROOT, 'test', 'golden');
    const files = readdirSync(dir).filter((f) => f.endsWith('.plist'));
    assert.equal(files.length, 4);
    for (const f of files) {
      const value = agree(readFileSync(path.join(dir, f), 'utf8'), f) as Record<string, unknown>;
      assert.match(String(value.Label), /^io\.lima-vm\.(autostart|daemon)\.default$/);
    }
  });

  it('reads what the program renders with hostile paths as plist does', () => {
    const sb = new Sandbox({ platform: 'darwin', homeName: `home & <dir> "q" 'a' 100% $HOME é🦙`, limaHomeName: 'lima %h ]]> &amp; ', binName: ' bin > & <b> $PATH ' });
    try {
      for (const args of [['--condition=login'], ['--condition=login', '--keep-alive=false'], ['--condition=boot'], ['--condition=boot', '--user=other']]) {
        const r = sb.run(['enable', 'default', ...args]);
        assert.equal(r.code, 0, show(r));
        const file = args[0] === '--condition=boot' ? sb.daemonPlist() : sb.agentPlist();
        const value = agree(readFileSync(file, 'utf8'), args.join(' ')) as { EnvironmentVariables: Record<string, string> };
        assert.equal(value.EnvironmentVariables.LIMA_HOME, sb.limaHome);
      }
    } finally {
      sb.cleanup();
    }
  });

  it('reads hostile strings, as keys and values, as plist does', () => {
    for (const s of HOSTILE) {
      const value = agree(build({ [s]: s, list: [s, { [s]: [s] }] }), JSON.stringify(s));
      assert.deepStrictEqual(value, { [s]: s, list: [s, { [s]: [s] }] });
    }
  });

  it('reads the XML that other writers use: references, comments, line ends, spacing in tags', () => {
    const cases: Array<[string, unknown]> = [
      ['<dict><key>a&amp;&lt;&gt;&quot;&apos;</key><string>&#65;&#x42;&#x1F999;&#10;&#13;</string></dict>', { 'a&<>"\'': 'AB🦙\n\r' }],
      ['<!-- a - comment --><dict>\r\n\t<!-- in a dict --><key>k</key>\r\n<!---><-->\n<string>a\r\nb\rc</string>\r\n</dict><!-- after -->', { k: 'a\nb\nc' }],
      ['<dict ><key >k</key ><true /><key>f</key><false></false><key>e</key><string></string><key/><array/></dict >', { k: true, f: false, e: '', '': [] }],
      ['<array><integer>0</integer><integer>-0</integer><integer>+7</integer><integer>007</integer><real>.5</real><real>-1.</real><real>2E3</real></array>', [0, -0, 7, 7, 0.5, -1, 2000]],
      ['<array><date>2026-11-23T14:00:00Z</date><date>2026-02-30T00:00:00.250Z</date><data>\n\tAAEC\n\t/w==\n</data><data></data><data/></array>', [new Date('2026-11-23T14:00:00Z'), new Date('2026-02-30T00:00:00.250Z'), Uint8Array.of(0, 1, 2, 255), new Uint8Array(0), new Uint8Array(0)]],
      ['<dict><key>a</key><string>1</string><key>a</key><string>2</string><key>2</key><dict/><key>1</key><array><array/></array></dict>', { a: '2', 2: {}, 1: [[]] }],
    ];
    for (const [body, expected] of cases) {
      assert.deepStrictEqual(agree(doc(body), body), expected);
    }
    // The declaration and doctype are optional, in any form XML allows without an internal subset.
    for (const text of [
      '<plist><string>x</string></plist>',
      "<?xml version='1.0'?><plist version='1.0'><string>x</string></plist>",
      '<?xml version="1.0" encoding="utf-8" standalone="yes" ?>\n<!DOCTYPE plist SYSTEM "file.dtd">\n<plist><string>x</string></plist>\n\n',
      '<!DOCTYPE plist>\n<plist >\n<string>x</string>\n</plist >',
    ]) {
      assert.equal(agree(text, text), 'x');
    }
  });

  it('reads a seeded random corpus written by plist\'s build as plist does, and as it went in', () => {
    for (const { value, text } of corpus(20261123, 400)) {
      assert.deepStrictEqual(agree(text, 'a generated plist'), value);
    }
  });

  it('reads what libplist (plistutil) writes as plist does', function () {
    const tool = needTool(this, 'plistutil', 'libplist-utils');
    const sb = new Sandbox({ platform: 'darwin' });
    try {
      const docs = [...corpus(7, 25), ...HOSTILE.map((s) => ({ value: { [s || 'empty']: s, n: [1, -2, true, false, {}] }, text: '' }))];
      docs.forEach((d, i) => {
        const from = path.join(sb.tmp, `in-${i}.plist`);
        const to = path.join(sb.tmp, `out-${i}.plist`);
        writeFileSync(from, d.text || build(d.value as Parameters<typeof build>[0]));
        const r = spawnSync(tool, ['-i', from, '-o', to, '-f', 'xml'], { encoding: 'utf8' });
        assert.equal(`${r.status} ${r.stderr}`, '0 ', `plistutil: ${r.stderr}`);
        const text = readFileSync(to, 'utf8');
        assert.ok(text.includes('<plist'), text);
        const value = agree(text, `libplist's plist ${i}`);
        // libplist writes reals in a form of its own; everything else must come back as it went in.
        if (!JSON.stringify(d.value, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? 'REAL' : v)).includes('"REAL"')) {
          assert.deepStrictEqual(value, d.value);
        }
      });
    } finally {
      sb.cleanup();
    }
  });

  it('leaves alone every plist it does not know, malformed ones included', () => {
    const bad = [
      '', 'x', '<plist>', '<plist></plist>', '<plist/>', '<plist><string>a</string><string>b</string></plist>',
      '<dict><key>a</key></dict>', '<dict><key>a</key><key>b</key><string>c</string></dict>', '<dict><string>a</string></dict>',
      '<dict><key>a</key><string>b</string></array>', '<array><string>a</key></array>', '<array>', '<string>a</string></dict>',
      '<foo/>', '<Dict/>', '<null/>', '<key>a</key>', '<dict a="b"/>', '<string x="1">a</string>',
      '<string><![CDATA[a]]></string>', '<string>a<!-- c -->b</string>', '<string>a<?pi x?></string>', '<string>a<b/></string>',
      '<string>&nbsp;</string>', '<string>a & b</string>', '<string>&amp</string>', '<string>&#0;</string>', '<string>&#1;</string>',
      '<string>&#xD800;</string>', '<string>&#x110000;</string>', '<string>&#xFFFE;</string>', '<string>\u0001</string>',
      '<string>\uD800</string>', '<string>a]]>b</string>', '<string>a</string  x>',
      '<integer>1.5</integer>', '<integer>abc</integer>', '<integer></integer>', '<integer/>', '<integer> 1</integer>', '<integer>0x10</integer>',
      '<real>abc</real>', '<real>NaN</real>', '<real/>', '<date>yesterday</date>', '<date>2026-01-01</date>', '<date/>',
      '<data>!!!!</data>', '<data>A</data>', '<data>AA=A</data>', '<true>x</true>', '<true> </true>', '<false><false/></false>',
      '<dict>junk<key>a</key><string>b</string></dict>', '<dict><key>__proto__</key><dict/></dict>',
      '<dict><!-- a -- b --></dict>', '<dict><!-- a ---></dict>', '<dict><!-- open</dict>', '<dict><!-- open -></dict>', '<dict><!--></dict>', '<dict><!---></dict>',
      `${'<array>'.repeat(1000)}${'</array>'.repeat(1000)}`,
    ].map((body) => doc(body));
    const valid = doc('<dict><key>k</key><string>v</string></dict>');
    bad.push(
      `\uFEFF${valid}`, ` ${valid}`, valid.replace('<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.1"?>'),
      valid.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"'), valid.replace('<!DOCTYPE plist', '<!DOCTYPE plist [<!ENTITY e "x">]><!-- ').replace('.dtd">', '.dtd" -->'),
      valid.replace('</plist>', '</plist><plist/>'), valid.replace('</plist>', '</plist>x'), valid.replace('<plist version="1.0">', '<?pi?><plist>'),
      `<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY e "zz">]><plist><string>&e;</string></plist>`,
      '{ a = b; }', '(a, b)', 'bplist00',
    );
    for (const text of bad) {
      assert.equal(readPlist(text), undefined, `the fast reader read this:\n${text}`);
    }
    // The valid one they are made from is read, so a rejection above is the fault's doing.
    assert.deepStrictEqual(agree(valid, 'the valid plist'), { k: 'v' });
  });

  it('reads no proper prefix of a rendered plist, and agrees with plist on every one-character change it reads', () => {
    const dir = path.join(ROOT, 'test', 'golden');
    const rnd = random(42);
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.plist'))) {
      const text = readFileSync(path.join(dir, file), 'utf8');
      for (let n = 0; n < text.trimEnd().length; n++) {
        assert.equal(readPlist(text.slice(0, n)), undefined, `${file}: prefix of ${n} characters`);
      }
      let read = 0;
      for (let n = 0; n < 2500; n++) {
        const at = Math.floor(rnd() * text.length);
        const ch = '<>/&;!-"\'= \nxk0'[Math.floor(rnd() * 15)]!;
        const mutant = rnd() < 0.3 ? text.slice(0, at) + text.slice(at + 1) : text.slice(0, at) + ch + text.slice(at + (rnd() < 0.5 ? 1 : 0));
        const fast = readPlist(mutant);
        if (!fast) continue;
        read++;
        assert.deepStrictEqual(fast.value, parse(mutant), `${file}, mutant at ${at}:\n${mutant}`);
      }
      // Changes inside strings and whitespace are read; the test would prove nothing otherwise.
      assert.ok(read > 250, `${file}: only ${read} of 2500 mutants read`);
    }
  });

  it('leaves raw U+0085, U+2028 and U+2029 to plist, which reads them as line ends; references to them it reads', () => {
    for (const ch of ['\u0085', '\u2028', '\u2029']) {
      const raw = doc(`<dict><key>k</key><string>a${ch}b</string></dict>`);
      assert.equal(readPlist(raw), undefined);
      assert.deepStrictEqual(parsePlist(raw), { k: 'a\nb' });
      const ref = `&#x${ch.charCodeAt(0).toString(16)};`;
      assert.deepStrictEqual(agree(doc(`<dict><key>k</key><string>a${ref}b</string></dict>`), ref), { k: `a${ch}b` });
    }
  });

  it('parsePlist hands what the fast reader leaves alone to plist, errors included', () => {
    const cdata = doc('<dict><key>k</key><string><![CDATA[<a & b>]]></string></dict>');
    assert.equal(readPlist(cdata), undefined);
    assert.deepStrictEqual(parsePlist(cdata), { k: '<a & b>' });
    assert.throws(() => parsePlist(doc('<dict><key>__proto__</key><dict/></dict>')), /__proto__/);
    assert.throws(() => parsePlist(doc('<data>!!!!</data>')));
    assert.throws(() => parsePlist(doc('<foo/>')), /Invalid PLIST tag foo/);
  });
});
