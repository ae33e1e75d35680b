// check-config.js SRC - checks editors/vscode's package.json, the language
// configuration and the problem matcher (package.json and
// examples/tasks.json) against exac's diagnostics, with node alone.
'use strict';
const fs = require('fs');
const path = require('path');

const src = process.argv[2];
const dir = path.join(src, 'editors', 'vscode');
let failed = 0, checks = 0;
function check(what, ok, detail) {
  checks++;
  if (!ok) {
    failed++;
    console.log('FAIL: ' + what + (detail === undefined ? '' : ': ' + detail));
  }
}
// JSON with // comments (tasks.json is JSONC)
function readJson(file) {
  const text = fs.readFileSync(file, 'utf8').replace(/^\s*\/\/.*$/gm, '');
  return JSON.parse(text);
}

const pkg = readJson(path.join(dir, 'package.json'));
const lang = (pkg.contributes.languages || []).find(l => l.id === 'exa');
check('package.json contributes the exa language', !!lang);
check('.exa is an exa extension', lang && lang.extensions.includes('.exa'));
const gram = (pkg.contributes.grammars || []).find(g => g.language === 'exa');
check('package.json contributes a grammar for exa', !!gram);
if (gram) {
  const g = readJson(path.join(dir, gram.path));
  check('grammar scopeName matches package.json', g.scopeName === gram.scopeName, g.scopeName);
}
const conf = readJson(path.join(dir, lang.configuration));
check('line comment is //', conf.comments.lineComment === '//');
check('block comment is /* */', JSON.stringify(conf.comments.blockComment) === '["/*","*/"]');
for (const [o, c] of [['{', '}'], ['(', ')'], ['[', ']']]) {
  check('bracket ' + o + c, conf.brackets.some(b => b[0] === o && b[1] === c));
  check('auto-closing ' + o + c, conf.autoClosingPairs.some(p => p.open === o && p.close === c));
}
check('auto-closing "', conf.autoClosingPairs.some(p => p.open === '"'));
const inc = new RegExp(conf.indentationRules.increaseIndentPattern);
const dec = new RegExp(conf.indentationRules.decreaseIndentPattern);
for (const l of ['train {', 'model m(x: [2]) -> [5] {', '    y = concat(', 'x = [', 'repeat 2 {  // steps'])
  check('increaseIndentPattern matches ' + JSON.stringify(l), inc.test(l));
for (const l of ['    h = h + 1;', 'repeat 2 { h = h + 1; }', '// a comment {', 'log = "a{";'])
  check('increaseIndentPattern does not match ' + JSON.stringify(l), !inc.test(l));
for (const l of ['}', '    }', '    );', ']'])
  check('decreaseIndentPattern matches ' + JSON.stringify(l), dec.test(l));
check('decreaseIndentPattern does not match "x = f(y);"', !dec.test('x = f(y);'));

// The problem matcher, as the extension contributes it and as the example task writes it.
const lines = [
  "peaks.exa:9:24: error: shape mismatch in '@': 'W' is [8, 3] but 'u' is [2]",
  "    9 |         u = tanh(W @ u + b);",
  "      |                    ^",
  "peaks.exa:3:11: note: 'W' declared here",
  "dir/peaks.exa:12:5: warning: unused parameter 'b'",
];
const want = [
  ['peaks.exa', '9', '24', 'error', "shape mismatch in '@': 'W' is [8, 3] but 'u' is [2]"],
  ['peaks.exa', '3', '11', undefined, "'W' declared here"],
  ['dir/peaks.exa', '12', '5', 'warning', "unused parameter 'b'"],
];
const tasks = readJson(path.join(dir, 'examples', 'tasks.json'));
const matchers = [['package.json $exac', (pkg.contributes.problemMatchers || []).find(m => m.name === 'exac')],
                  ['examples/tasks.json', tasks.tasks[0].problemMatcher]];
for (const [name, m] of matchers) {
  check(name + ' exists', !!m);
  if (!m) continue;
  check(name + ' default severity is info (for notes)', m.severity === 'info');
  const p = m.pattern, re = new RegExp(p.regexp);
  const got = [];
  for (const l of lines) {
    const r = re.exec(l);
    if (r) got.push([r[p.file], r[p.line], r[p.column], r[p.severity], r[p.message]]);
  }
  check(name + ' reads exac\'s diagnostics', JSON.stringify(got) === JSON.stringify(want), JSON.stringify(got));
}
check('example task runs exac check', tasks.tasks[0].command === 'exac' && tasks.tasks[0].args[0] === 'check');

console.log(`vscode config: ${checks} checks, ${failed} failed`);
process.exit(failed ? 1 : 0);
