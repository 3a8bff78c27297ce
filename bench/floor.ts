// The floor of `npm run bench` (docs/performance.md): the least a program built on the same five
// runtime packages can cost. It loads each and uses each once, whatever the words it is given, so
// that every case is measured against one yardstick. The bench bundles it as the program is
// bundled, so that both are loaded the same way.
import { execa } from 'execa';
import Handlebars from 'handlebars';
import { parse } from 'plist';
import { coerce, gte } from 'semver';
import yargs from 'yargs';

// yargs' own --version would print and end the run before the other packages were used.
const args = yargs(process.argv.slice(2)).version(false).parseSync();
const { stdout } = await execa('limactl', ['--version']);
const limactl = coerce(stdout)?.version ?? '0.0.0';
const template = Handlebars.compile('<plist version="1.0"><dict><key>Label</key><string>{{label}}</string><key>Supported</key><{{supported}}/></dict></plist>');
const plist = parse(template({ label: `io.lima-vm.autostart.${String(args._[1] ?? 'default')}`, supported: gte(limactl, '2.0.0') }));
process.stdout.write(`${JSON.stringify({ words: args._, limactl, plist })}\n`);
